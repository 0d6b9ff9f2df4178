// libFuzzer target: the GGUF reader must reject any input cleanly, and every tensor it
// accepts must lie inside the file, aligned, without overlap.
#include <cstdlib>

#include "runtime/formats/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mb::runtime::ByteSpan s{data, size};
  auto r = mb::runtime::parse_gguf(s);
  if (!r.ok()) return 0;
  uint64_t prev_end = r->data_offset;
  for (const auto& t : r->tensors) {
    if (t.offset < prev_end || t.offset > size || t.nbytes > size - t.offset) std::abort();
    if ((t.offset - r->data_offset) % r->alignment != 0) std::abort();
    prev_end = t.offset + t.nbytes;
  }
  return 0;
}
