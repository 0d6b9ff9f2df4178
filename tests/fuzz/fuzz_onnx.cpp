// libFuzzer target: the ONNX protobuf wire walk (external data sizes are faked).
#include <cstdlib>

#include "runtime/formats/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mb::runtime::parse_onnx(mb::runtime::ByteSpan{data, size},
                                   [](const std::string&) -> mb::Result<uint64_t> { return 4096; });
  if (!r.ok()) return 0;
  for (const auto& t : r->initializers) {
    if (t.offset != 0 && (t.offset > size || t.nbytes > size - t.offset)) std::abort();
  }
  return 0;
}
