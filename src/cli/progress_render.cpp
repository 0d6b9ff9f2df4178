#include "cli/progress_render.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mb::cli {

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

std::string format_rate(double bytes_per_second) {
  if (!(bytes_per_second > 0)) return "0 B/s";
  return fetch::format_bytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
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

std::vector<std::string> render_progress(const fetch::ProgressSnapshot& s, double rate,
                                         size_t width, size_t max_files) {
  std::vector<std::string> lines;
  size_t shown = std::min(max_files, s.active.size());
  for (size_t i = 0; i < shown; ++i) {
    const fetch::ActiveFile& f = s.active[i];
    std::string tail = "  " + percent(f.done, f.size) + "  " + fetch::format_bytes(f.done) + " / " +
                       fetch::format_bytes(f.size);
    size_t room = width > tail.size() + 2 ? width - tail.size() - 2 : 10;
    lines.push_back("  " + fit(f.label, room) + tail);
  }
  if (s.active.size() > shown) {
    lines.push_back("  ... and " + std::to_string(s.active.size() - shown) + " more");
  }
  double remaining =
      static_cast<double>(s.bytes_total > s.bytes_done ? s.bytes_total - s.bytes_done : 0);
  std::string total = "[" + std::to_string(s.files_done) + "/" + std::to_string(s.files_total) +
                      " files] " + fetch::format_bytes(s.bytes_done) + " / " +
                      fetch::format_bytes(s.bytes_total) + "  " +
                      percent(s.bytes_done, s.bytes_total) + "  " + format_rate(rate) + "  ETA " +
                      format_eta(rate > 0 ? remaining / rate : -1);
  lines.push_back(fit(total, width));
  return lines;
}

}  // namespace mb::cli
