// Pure formatting of the fetch progress display (what cli/progress_display draws), kept apart
// from the terminal handling so it is unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fetch/progress.hpp"

namespace mb::cli {

// Exponentially weighted transfer rate from (seconds, cumulative bytes) samples.
class RateMeter {
 public:
  void sample(double seconds, uint64_t bytes);
  double bytes_per_second() const { return m_rate; }

 private:
  bool m_has = false;
  double m_last_t = 0, m_rate = 0;
  uint64_t m_last_bytes = 0;
};

std::string format_rate(double bytes_per_second);  // "12.0 MiB/s"
std::string format_eta(double seconds);            // "42s", "3m05s", "2h01m", "--" when unknown
// Lines of the live display: one per active file (at most `max_files`), then a total line.
std::vector<std::string> render_progress(const fetch::ProgressSnapshot& s, double rate,
                                         size_t width, size_t max_files);

}  // namespace mb::cli
