#include "serve/range.hpp"

#include <charconv>

namespace mb::serve {

namespace {

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange& out) {
  constexpr std::string_view k_unit = "bytes=";
  if (size == 0 || header.size() <= k_unit.size() || header.substr(0, k_unit.size()) != k_unit) {
    return RangeKind::none;
  }
  std::string_view spec = header.substr(k_unit.size());
  while (!spec.empty() && spec.front() == ' ') spec.remove_prefix(1);
  while (!spec.empty() && spec.back() == ' ') spec.remove_suffix(1);
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos || spec.find(',') != std::string_view::npos)
    return RangeKind::none;
  std::string_view first = spec.substr(0, dash), last = spec.substr(dash + 1);
  uint64_t a = 0, b = 0;
  if (first.empty()) {  // suffix: the last b bytes
    if (!parse_u64(last, b)) return RangeKind::none;
    if (b == 0) return RangeKind::unsatisfiable;
    if (b > size) b = size;
    out = {size - b, b};
    return RangeKind::partial;
  }
  if (!parse_u64(first, a)) return RangeKind::none;
  if (last.empty()) {
    b = size - 1;
  } else if (!parse_u64(last, b) || b < a) {
    return RangeKind::none;
  }
  if (a >= size) return RangeKind::unsatisfiable;
  if (b >= size) b = size - 1;
  out = {a, b - a + 1};
  return RangeKind::partial;
}

}  // namespace mb::serve
