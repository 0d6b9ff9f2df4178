#include "cli/progress_display.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "core/log.hpp"

namespace mb::cli {

namespace {
size_t terminal_width() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) return ws.ws_col;
  return 80;
}
}  // namespace

ProgressDisplay::ProgressDisplay(fetch::Progress& progress, Clock& clock, bool live, bool quiet)
    : m_progress(progress), m_clock(clock), m_live(live), m_start(clock.now()) {
  if (!live && !quiet) {
    progress.set_listener([](const fetch::FileEvent& e) {
      log::info("downloaded " + e.label + " (" + fetch::format_bytes(e.size) + ")");
    });
  }
  if (m_live) m_thread = std::thread([this] { loop(); });
}

ProgressDisplay::~ProgressDisplay() { stop(); }

void ProgressDisplay::stop() {
  {
    std::lock_guard lock(m_mutex);
    if (m_stop) return;
    m_stop = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
  if (m_live) draw(true);
}

void ProgressDisplay::loop() {
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    // Redraws are throttled to ~10/s: enough to look live, cheap on a slow terminal.
    m_cv.wait_for(lock, std::chrono::milliseconds(100), [this] { return m_stop; });
    if (m_stop) break;
    lock.unlock();
    draw(false);
    lock.lock();
  }
}

void ProgressDisplay::draw(bool final) {
  fetch::ProgressSnapshot s = m_progress.snapshot();
  double seconds = std::chrono::duration<double>(m_clock.now() - m_start).count();
  m_rate.sample(seconds, s.network_bytes);
  std::string out;
  // Log lines printed since the last frame sit below it: keep them (the old frame stays in
  // the scrollback) and draw the new frame under them.
  if (uint64_t logged = log::lines_written(); logged != m_log_lines) {
    m_log_lines = logged;
    m_lines_drawn = 0;
  }
  for (size_t i = 0; i < m_lines_drawn; ++i) out += "\x1b[1A\x1b[2K";
  out += "\r\x1b[2K";
  m_lines_drawn = 0;
  if (!final && s.files_total > 0) {
    for (const std::string& line :
         render_progress(s, m_rate.bytes_per_second(), terminal_width() - 1, 8)) {
      out += line + "\n";
      m_lines_drawn++;
    }
  }
  std::fwrite(out.data(), 1, out.size(), stderr);
  std::fflush(stderr);
}

}  // namespace mb::cli
