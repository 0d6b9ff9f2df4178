// Structural reader for GGUF v2/v3 (llama.cpp's single-file format): magic, version, counts,
// metadata key/values (arrays included, nested at most k_gguf_max_array_depth), tensor infos,
// general.alignment and the data section. Counts are checked against the bytes left in the
// file before anything is read, so a file claiming 2^63 tensors fails at once.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/byte_reader.hpp"
#include "runtime/formats/tensors.hpp"

namespace mb::runtime {

inline constexpr int k_gguf_max_array_depth = 4;
inline constexpr uint64_t k_gguf_max_string = 64ull << 20;
inline constexpr uint32_t k_gguf_max_dims = 4;  // GGML_MAX_DIMS

// Where an array value lies in the file, so large arrays (a 150k-token vocabulary) are read
// only by the code that needs them (gguf_string_array / gguf_number_array).
struct GgufArrayRef {
  uint32_t elem_type = 0;  // GGUF value type of the elements
  uint64_t count = 0;
  uint64_t offset = 0;  // absolute offset of the first element
};

struct GgufInfo {
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;
  // Scalar metadata rendered as text (strings as-is, numbers in decimal, bools as
  // true/false); arrays are recorded as "array[<count>]".
  std::map<std::string, std::string> metadata;
  std::vector<TensorInfo> tensors;             // sorted by offset
  std::map<std::string, GgufArrayRef> arrays;  // array-valued metadata
  std::map<std::string, double> numbers;       // numeric scalars, exact (metadata rounds f32)
};

// {elements per block, bytes per block} for a ggml type id; {0, 0} when unknown.
struct GgmlTypeSize {
  const char* name;
  uint64_t block;
  uint64_t bytes;
};
GgmlTypeSize ggml_type_size(uint32_t type);

Result<GgufInfo> parse_gguf(ByteSpan file);

// The elements of an array of strings / of numbers (integer, float or bool elements) recorded
// by parse_gguf for `file`. Fails with category integrity on a wrong element type.
Result<std::vector<std::string>> gguf_string_array(ByteSpan file, const GgufInfo& info,
                                                   const std::string& key);
Result<std::vector<double>> gguf_number_array(ByteSpan file, const GgufInfo& info,
                                              const std::string& key);

}  // namespace mb::runtime
