#include "core/units.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

namespace mb {

std::string format_size(uint64_t bytes, SizeDigits digits) {
  static const char* k_units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  const char* format = "%.1f %s";
  if (digits == SizeDigits::three_significant)
    format = v < 10 ? "%.2f %s" : (v < 100 ? "%.1f %s" : "%.0f %s");
  std::snprintf(buf, sizeof buf, format, v, k_units[u]);
  return buf;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string number(text.substr(0, i));
  std::string unit(text.substr(i));
  if (number.empty() || number.front() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1) {
    return std::nullopt;
  }
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  int shift = 0;
  if (unit.empty() || unit == "B")
    shift = 0;
  else if (unit == "K")
    shift = 10;
  else if (unit == "M")
    shift = 20;
  else if (unit == "G")
    shift = 30;
  else if (unit == "T")
    shift = 40;
  else
    return std::nullopt;
  double value = 0;
  if (std::sscanf(number.c_str(), "%lf", &value) != 1) return std::nullopt;
  double bytes = std::ldexp(value, shift);
  if (!(bytes >= 0) || bytes >= 1.8e19) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

}  // namespace mb
