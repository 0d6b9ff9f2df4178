#include "runtime/formats/tensors.hpp"

namespace mb::runtime {

std::map<std::string, uint64_t> bytes_by_dtype(const std::vector<TensorInfo>& tensors) {
  std::map<std::string, uint64_t> out;
  for (const auto& t : tensors) out[t.dtype] += t.nbytes;
  return out;
}

std::string shape_string(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace mb::runtime
