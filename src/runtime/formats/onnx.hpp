// Structural reader for ONNX ModelProto files: a bounded walk of the protobuf wire format
// (varints of at most 10 bytes, length-delimited fields inside their parent, no groups,
// nesting limited to k_onnx_max_depth) that requires a graph and checks every initializer's
// data: raw_data size == dims x element size, external data (offset, length) inside its file.
// Nothing is executed and no schema library is used.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/byte_reader.hpp"
#include "runtime/formats/tensors.hpp"

namespace mb::runtime {

inline constexpr int k_onnx_max_depth = 32;

struct OnnxInfo {
  uint64_t ir_version = 0;
  std::vector<TensorInfo> initializers;  // offset is 0 for external or typed-field data
  // External data files named by initializers (relative to the model file's directory).
  std::vector<std::string> external_files;
};

// Size of an external data file relative to the .onnx file's directory, or an error when it
// is absent. Injected so the reader itself never touches the file system.
using ExternalSize = std::function<Result<uint64_t>(const std::string& relative_path)>;

Result<OnnxInfo> parse_onnx(ByteSpan file, const ExternalSize& external_size);

}  // namespace mb::runtime
