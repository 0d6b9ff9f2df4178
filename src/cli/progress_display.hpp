// Terminal side of fetch progress: a live display redrawn on stderr (~10/s) when stderr is a
// terminal, or one plain log line per finished file otherwise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "cli/progress_render.hpp"
#include "core/env.hpp"
#include "fetch/progress.hpp"

namespace mb::cli {

class ProgressDisplay {
 public:
  // live: redraw a display; otherwise (unless quiet) print a line per downloaded file.
  ProgressDisplay(fetch::Progress& progress, Clock& clock, bool live, bool quiet);
  ~ProgressDisplay();  // stops and erases the display
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;
  void stop();

 private:
  void loop();
  void draw(bool final);

  fetch::Progress& m_progress;
  Clock& m_clock;
  bool m_live;
  Clock::TimePoint m_start;
  RateMeter m_rate;
  size_t m_lines_drawn = 0;
  uint64_t m_log_lines = 0;  // log::lines_written() at the last frame
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace mb::cli
