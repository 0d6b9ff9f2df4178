// What the format readers report about the tensors of a weight file: enough for the memory
// budget (bytes by dtype), the consistency checks (names and shapes) and the finiteness scan.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mb::runtime {

struct TensorInfo {
  std::string name;
  std::string dtype;            // as the format spells it: "F32", "BF16", "Q4_K", "FLOAT"...
  std::vector<uint64_t> shape;  // outermost first (GGUF's ne[] is reversed into this order)
  uint64_t offset = 0;          // absolute byte offset of the data in the file
  uint64_t nbytes = 0;
};

// a * b, false on overflow.
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}
inline bool checked_add(uint64_t a, uint64_t b, uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

// Sum of nbytes per dtype.
std::map<std::string, uint64_t> bytes_by_dtype(const std::vector<TensorInfo>& tensors);

std::string shape_string(const std::vector<uint64_t>& shape);  // "[30522, 384]"

}  // namespace mb::runtime
