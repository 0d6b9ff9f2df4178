// Progress accounting shared by the fetch workers (writers) and a display (reader). The
// engine only counts; drawing (terminal redraw or plain lines) is the CLI's business
// (cli/progress_render, cli/progress_display).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace mb::fetch {

struct ActiveFile {
  int id = 0;
  std::string label;
  uint64_t size = 0;
  uint64_t done = 0;
};

struct ProgressSnapshot {
  uint64_t files_total = 0;
  uint64_t files_done = 0;
  uint64_t bytes_total = 0;  // bytes of all planned downloads
  uint64_t bytes_done = 0;   // content bytes on disk for those (resumed bytes included)
  uint64_t network_bytes = 0;
  std::vector<ActiveFile> active;  // in start order
};

// How a finished file got into the cache.
enum class FileOutcome { downloaded, reused };

struct FileEvent {
  std::string label;  // "org/name: path"
  uint64_t size = 0;
  FileOutcome outcome = FileOutcome::downloaded;
  uint64_t network_bytes = 0;  // bytes received for this file in this run
};

class Progress {
 public:
  // Called once per finished file (from worker threads; serialised by Progress).
  using Listener = std::function<void(const FileEvent&)>;
  void set_listener(Listener listener) { m_listener = std::move(listener); }

  void add_planned(uint64_t files, uint64_t bytes);
  int start_file(std::string label, uint64_t size);
  // Bytes of the file now on disk (may go down when a download restarts from zero).
  void file_progress(int id, uint64_t done);
  void add_network_bytes(uint64_t n) { m_network.fetch_add(n, std::memory_order_relaxed); }
  void finish_file(int id, const FileEvent& event);
  // A planned file that failed or turned out to be present: drop it from the display.
  void abandon_file(int id);
  ProgressSnapshot snapshot() const;

 private:
  mutable std::mutex m_mutex;
  Listener m_listener;
  std::vector<ActiveFile> m_active;
  int m_next_id = 1;
  uint64_t m_files_total = 0, m_files_done = 0, m_bytes_total = 0, m_bytes_finished = 0;
  std::atomic<uint64_t> m_network{0};
};

// core format_size with three significant digits: "999 B", "1.50 KiB", "12.0 MiB", "3.25 GiB".
std::string format_bytes(uint64_t bytes);

}  // namespace mb::fetch
