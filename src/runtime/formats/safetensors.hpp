// Structural reader for safetensors files: 8-byte little-endian header length, a JSON header
// mapping tensor names to {dtype, shape, data_offsets}, then the data section. The reader
// trusts nothing: the header length is checked against the file size and a cap, every
// dtype x shape must equal its byte range, and the ranges must tile the data section
// exactly (no overlaps, no gaps, nothing past the end), as the reference implementation
// requires.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/byte_reader.hpp"
#include "runtime/formats/tensors.hpp"

namespace mb::runtime {

inline constexpr uint64_t k_safetensors_max_header = 100ull << 20;  // same cap as safetensors

struct SafetensorsInfo {
  uint64_t header_size = 0;
  uint64_t data_offset = 0;         // 8 + header_size
  std::vector<TensorInfo> tensors;  // sorted by offset
  std::map<std::string, std::string> metadata;
};

// Bytes per element of a safetensors dtype, 0 when unknown.
uint64_t safetensors_dtype_size(const std::string& dtype);

// Errors are ErrorCategory::integrity with a message that does not include the file name.
Result<SafetensorsInfo> parse_safetensors(ByteSpan file);

}  // namespace mb::runtime
