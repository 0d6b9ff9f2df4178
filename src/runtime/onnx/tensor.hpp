// The interpreter's tensor: float32 or int64 (ONNX int32/bool/uint8 widen to int64, float16,
// bfloat16 and double to float32), dense, row-major.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mb::onnx {

struct Tensor {
  enum class Type : uint8_t { f32, i64 } type = Type::f32;
  std::vector<int64_t> shape;
  std::vector<float> f;    // type f32
  std::vector<int64_t> i;  // type i64

  static Tensor floats(std::vector<int64_t> shape, std::vector<float> v) {
    Tensor t;
    t.shape = std::move(shape);
    t.f = std::move(v);
    return t;
  }
  static Tensor ints(std::vector<int64_t> shape, std::vector<int64_t> v) {
    Tensor t;
    t.type = Type::i64;
    t.shape = std::move(shape);
    t.i = std::move(v);
    return t;
  }
  bool is_float() const { return type == Type::f32; }
  size_t size() const { return is_float() ? f.size() : i.size(); }
  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  double at(size_t k) const { return is_float() ? f[k] : static_cast<double>(i[k]); }
};

// Product of the dims, or -1 when negative or above 2^40 (no tensor of a BERT graph comes near).
int64_t element_count(const std::vector<int64_t>& shape);
std::string shape_text(const std::vector<int64_t>& shape);  // "[1, 7, 32]"

}  // namespace mb::onnx
