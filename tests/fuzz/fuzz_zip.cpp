// libFuzzer target: the PyTorch zip reader (central directory, local headers).
#include <cstdlib>

#include "runtime/formats/zip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mb::runtime::parse_zip(mb::runtime::ByteSpan{data, size});
  if (!r.ok()) return 0;
  for (const auto& e : r->entries) {
    if (e.data_offset > size || e.compressed_size > size - e.data_offset) std::abort();
  }
  (void)mb::runtime::pytorch_storage_bytes(*r);
  return 0;
}
