// The ONNX ops of the interpreter (internal to runtime/onnx): each takes the node, its
// inputs (nullptr for an omitted optional one) and the graph's opset, and returns its outputs.
#pragma once

#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/onnx/graph.hpp"
#include "runtime/onnx/tensor.hpp"

namespace mb::onnx {

using Shape = std::vector<int64_t>;
using Inputs = std::vector<const Tensor*>;
using Outputs = std::vector<Tensor>;
using OpFn = Result<Outputs> (*)(const Node&, const Inputs&, int64_t opset);

// The implementation of `op_type` (default domain), or nullptr (interpreter.cpp).
OpFn find_op(const std::string& op_type);

// Registries of the three op files (ops_elementwise.cpp, ops_linalg.cpp, ops_shape.cpp).
struct OpEntry {
  const char* name;
  OpFn fn;
};
const std::vector<OpEntry>& elementwise_ops();
const std::vector<OpEntry>& linalg_ops();
const std::vector<OpEntry>& shape_ops();

// ---- helpers shared by the op files (ops_common.cpp) ----

// A computed tensor above this many elements is refused: the largest in a BERT-family graph
// (attention scores heads x 512 x 512, FFN activations) is far below, and shapes that come
// from the graph's own data (Reshape, Expand, ConstantOfShape) must not size an allocation.
inline constexpr int64_t k_max_elements = int64_t{1} << 26;

Failure broken(const Node& n, const std::string& what);  // integrity: a malformed graph
Failure refuse(const Node& n, const std::string& what);  // usage: valid but not supported
Status need_inputs(const Node& n, const Inputs& in, size_t required);

int64_t attr_i(const Node& n, const char* key, int64_t fallback);
float attr_f(const Node& n, const char* key, float fallback);
const std::vector<int64_t>* attr_ints(const Node& n, const char* key);
// Axis in [-rank, rank) (`extra` widens the range, for Unsqueeze) made non-negative.
Result<int64_t> axis_of(const Node& n, int64_t axis, int64_t rank);

Shape strides(const Shape& s);
// A zero-filled tensor of `shape`, refused above k_max_elements.
Result<Tensor> sized(const Node& n, Tensor::Type type, Shape shape);
Result<Shape> broadcast_shape(const Node& n, const Shape& a, const Shape& b);
// For each element of `out`, the offset of the element of a tensor of shape `s` that numpy
// broadcasting pairs with it.
std::vector<int64_t> broadcast_offsets(const Shape& s, const Shape& out);
// An int64 input as a list (shapes, axes, indices of Slice).
Result<std::vector<int64_t>> int_list(const Node& n, const Tensor* t, const char* what);

}  // namespace mb::onnx
