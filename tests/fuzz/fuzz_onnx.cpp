// libFuzzer target: the ONNX protobuf wire walk (external data sizes are faked) and the
// interpreter's graph loader (runtime/onnx/graph.hpp: nodes, attributes, initializers in
// every encoding; external data served as zeros of the asked length, capped).
#include <algorithm>
#include <cstdlib>

#include "runtime/formats/onnx.hpp"
#include "runtime/onnx/graph.hpp"
#include "runtime/onnx/interpreter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mb::runtime::parse_onnx(mb::runtime::ByteSpan{data, size},
                                   [](const std::string&) -> mb::Result<uint64_t> { return 4096; });
  if (r.ok()) {
    for (const auto& t : r->initializers) {
      if (t.offset != 0 && (t.offset > size || t.nbytes > size - t.offset)) std::abort();
    }
  }
  auto g = mb::onnx::load_graph(
      mb::runtime::ByteSpan{data, size},
      [](const std::string&, uint64_t, int64_t length) -> mb::Result<std::string> {
        return std::string(static_cast<size_t>(std::clamp<int64_t>(length, 0, 4096)), '\0');
      });
  if (g.ok()) (void)mb::onnx::check_supported(*g);
  return 0;
}
