// Bounded little-endian cursor over bytes that come from an untrusted file. Every read checks
// the remaining length first; a length field is only ever compared against what is left,
// never used to size an allocation or to step outside the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mb::runtime {

struct ByteSpan {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
  ByteSpan sub(uint64_t offset, uint64_t len) const {  // caller checked the bounds
    return ByteSpan{data + offset, len};
  }
};

// True when [offset, offset + len) lies inside a buffer of `size` bytes (no overflow).
inline bool range_inside(uint64_t offset, uint64_t len, uint64_t size) {
  return offset <= size && len <= size - offset;
}

class ByteReader {
 public:
  explicit ByteReader(ByteSpan s, uint64_t pos = 0) : m_s(s), m_pos(pos <= s.size ? pos : s.size) {}

  uint64_t pos() const { return m_pos; }
  uint64_t remaining() const { return m_s.size - m_pos; }
  const uint8_t* here() const { return m_s.data + m_pos; }

  bool skip(uint64_t n) {
    if (n > remaining()) return false;
    m_pos += n;
    return true;
  }
  template <class T>
  bool read_le(T& out) {
    if (sizeof(T) > remaining()) return false;
    std::memcpy(&out, here(), sizeof(T));  // x86-64/aarch64 are little-endian hosts
    m_pos += sizeof(T);
    return true;
  }
  // A view of the next `n` bytes; fails (and does not move) if fewer remain.
  bool read_bytes(uint64_t n, std::string_view& out) {
    if (n > remaining()) return false;
    out = std::string_view(reinterpret_cast<const char*>(here()), n);
    m_pos += n;
    return true;
  }

 private:
  ByteSpan m_s;
  uint64_t m_pos;
};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "readers assume a little-endian host");

}  // namespace mb::runtime
