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

void RateMeter::sample(double seconds, uint64_t bytes) {
  if (!m_has) {
    m_has = true;
    m_last_t = seconds;
    m_last_bytes = bytes;
    return;
  }
  double dt = seconds - m_last_t;
  if (dt <= 0) return;
  double instant = static_cast<double>(bytes >= m_last_bytes ? bytes - m_last_bytes : 0) / dt;
  // ~2 s time constant: steady enough to read, quick enough to follow a stall.
  double alpha = 1.0 - std::exp(-dt / 2.0);
  m_rate = m_rate == 0 ? instant : m_rate + alpha * (instant - m_rate);
  m_last_t = seconds;
  m_last_bytes = bytes;
}

std::string format_bytes(uint64_t bytes) { return format_size(bytes, SizeDigits::three_significant); }

std::string format_rate(double bytes_per_second) {
  if (!(bytes_per_second > 0)) return "0 B/s";
  return format_bytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
}

std::string format_eta(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds) || seconds > 99 * 3600) return "--";
  auto s = static_cast<uint64_t>(std::llround(seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>((s % 3600) / 60));
  }
  return buf;
}

namespace {

std::string fit(std::string text, size_t width) {
  if (width < 4 || text.size() <= width) return text;
  return "..." + text.substr(text.size() - (width - 3));
}

std::string percent(uint64_t done, uint64_t total) {
  char buf[16];
  double p = total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total);
  std::snprintf(buf, sizeof buf, "%3.0f%%", std::min(p, 100.0));
  return buf;
}

}  // namespace

std::vector<std::string> render_progress(const ProgressSnapshot& s, double rate, size_t width,
                                         size_t max_files) {
  std::vector<std::string> lines;
  size_t shown = std::min(max_files, s.active.size());
  for (size_t i = 0; i < shown; ++i) {
    const ActiveFile& f = s.active[i];
    std::string tail = "  " + percent(f.done, f.size) + "  " + format_bytes(f.done) + " / " +
                       format_bytes(f.size);
    size_t room = width > tail.size() + 2 ? width - tail.size() - 2 : 10;
    lines.push_back("  " + fit(f.label, room) + tail);
  }
  if (s.active.size() > shown) {
    lines.push_back("  ... and " + std::to_string(s.active.size() - shown) + " more");
  }
  double remaining = static_cast<double>(s.bytes_total > s.bytes_done ? s.bytes_total - s.bytes_done : 0);
  std::string total = "[" + std::to_string(s.files_done) + "/" + std::to_string(s.files_total) +
                      " files] " + format_bytes(s.bytes_done) + " / " + format_bytes(s.bytes_total) +
                      "  " + percent(s.bytes_done, s.bytes_total) + "  " + format_rate(rate) +
                      "  ETA " + format_eta(rate > 0 ? remaining / rate : -1);
  lines.push_back(fit(total, width));
  return lines;
}

}  // namespace mb::fetch
