// Memory-mapped safetensors weights for the inference engine, read with the one
// safetensors reader (runtime/formats/safetensors.hpp, the structure step's) and served by
// name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace mb::infer {

class ModelFiles;

// Read-only private mapping of a whole file; unmapped on destruction.
class MappedFile {
 public:
  // Regular files only (runtime::open_regular): a FIFO or device is refused, never opened.
  static Result<MappedFile> open(const std::string& path);
  static Result<MappedFile> map(int fd, const std::string& what);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return m_data; }
  uint64_t size() const { return m_size; }

 private:
  void reset();
  const uint8_t* m_data = nullptr;
  uint64_t m_size = 0;
};

enum class DType { f32, f16, bf16, other };
const char* to_string(DType d);

struct TensorView {
  std::string name;
  DType dtype = DType::other;
  std::string dtype_name;  // as written in the header ("F32", "I64", ...)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping; may be unaligned
  uint64_t nbytes = 0;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t numel() const;
};

float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

// All tensors of a model: model.safetensors, or the shards listed by
// model.safetensors.index.json.
class Weights {
 public:
  static Result<Weights> open(const ModelFiles& files);
  // Parses one safetensors file already in memory (used by open and by tests).
  Status add_file(MappedFile file, const std::string& label);

  const TensorView* find(const std::string& name) const;
  // Converts a whole F32/F16/BF16 tensor to F32.
  Result<std::vector<float>> to_f32(const TensorView& t) const;
  // Converts one row of a 2-D tensor (an embedding lookup) without touching the others.
  void row_f32(const TensorView& t, int64_t row, float* out) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::unique_ptr<MappedFile>> m_files;
  std::map<std::string, TensorView> m_tensors;
};

}  // namespace mb::infer
