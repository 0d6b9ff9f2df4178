#include "core/units.hpp"

#include <cstdio>

namespace mb {

std::string format_size(uint64_t bytes) {
  static const char* k_units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, k_units[u]);
  return buf;
}

}  // namespace mb
