// libFuzzer target: the safetensors reader must reject any input cleanly (no crash, no
// out-of-bounds read under ASan) and anything it accepts must satisfy its invariants.
#include <cstdlib>

#include "runtime/formats/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mb::runtime::ByteSpan s{data, size};
  auto r = mb::runtime::parse_safetensors(s);
  if (!r.ok()) return 0;
  uint64_t end = r->data_offset;
  for (const auto& t : r->tensors) {
    if (t.offset != end || t.nbytes > size - t.offset) std::abort();
    end = t.offset + t.nbytes;
  }
  if (end != size) std::abort();
  return 0;
}
