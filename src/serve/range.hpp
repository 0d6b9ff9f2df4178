// The Range request header (RFC 9110 §14), single ranges only: a multi-range or malformed
// header is ignored (the whole file is sent, as the RFC allows); a start beyond the end is
// unsatisfiable (416). An empty file ignores Range (there is no byte to address).
#pragma once

#include <cstdint>
#include <string_view>

namespace mb::serve {

struct ByteRange {
  uint64_t start = 0;
  uint64_t length = 0;
};

enum class RangeKind { none, partial, unsatisfiable };

RangeKind parse_range(std::string_view header, uint64_t size, ByteRange& out);

}  // namespace mb::serve
