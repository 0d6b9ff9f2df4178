#include "fetch/progress.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/units.hpp"

namespace mb::fetch {

void Progress::add_planned(uint64_t files, uint64_t bytes) {
  std::lock_guard lock(m_mutex);
  m_files_total += files;
  m_bytes_total += bytes;
}

int Progress::start_file(std::string label, uint64_t size) {
  std::lock_guard lock(m_mutex);
  int id = m_next_id++;
  m_active.push_back({id, std::move(label), size, 0});
  return id;
}

void Progress::file_progress(int id, uint64_t done) {
  std::lock_guard lock(m_mutex);
  for (ActiveFile& f : m_active) {
    if (f.id == id) f.done = std::min(done, f.size);
  }
}

void Progress::finish_file(int id, const FileEvent& event) {
  std::lock_guard lock(m_mutex);
  std::erase_if(m_active, [id](const ActiveFile& f) { return f.id == id; });
  m_files_done++;
  m_bytes_finished += event.size;
  if (m_listener) m_listener(event);
}

void Progress::abandon_file(int id) {
  std::lock_guard lock(m_mutex);
  std::erase_if(m_active, [id](const ActiveFile& f) { return f.id == id; });
}

ProgressSnapshot Progress::snapshot() const {
  std::lock_guard lock(m_mutex);
  ProgressSnapshot s;
  s.files_total = m_files_total;
  s.files_done = m_files_done;
  s.bytes_total = m_bytes_total;
  s.bytes_done = m_bytes_finished;
  for (const ActiveFile& f : m_active) s.bytes_done += f.done;
  s.bytes_done = std::min(s.bytes_done, std::max(s.bytes_total, s.bytes_done));
  s.network_bytes = m_network.load(std::memory_order_relaxed);
  s.active = m_active;
  return s;
}

std::string format_bytes(uint64_t bytes) {
  return format_size(bytes, SizeDigits::three_significant);
}

}  // namespace mb::fetch
