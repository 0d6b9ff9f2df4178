#include <fmt/format.h>

#include <algorithm>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {

Failure broken(const Node& n, const std::string& what) {
  return fail(ErrorCategory::integrity,
              fmt::format("onnx: node '{}' ({}): {}", n.name, n.op_type, what),
              "the ONNX graph is malformed; export it again");
}

Failure refuse(const Node& n, const std::string& what) {
  return fail(ErrorCategory::usage, fmt::format("onnx: {} {} is not supported", n.op_type, what),
              "inference runs the BERT-family graphs of torch.onnx.export and optimum");
}

Status need_inputs(const Node& n, const Inputs& in, size_t required) {
  if (in.size() < required) return broken(n, fmt::format("needs {} inputs", required));
  for (size_t k = 0; k < required; ++k)
    if (in[k] == nullptr) return broken(n, fmt::format("input {} is missing", k));
  return {};
}

int64_t attr_i(const Node& n, const char* key, int64_t fallback) {
  const Attribute* a = n.attr(key);
  return a != nullptr && a->kind == Attribute::Kind::i ? a->i : fallback;
}

float attr_f(const Node& n, const char* key, float fallback) {
  const Attribute* a = n.attr(key);
  return a != nullptr && a->kind == Attribute::Kind::f ? a->f : fallback;
}

const std::vector<int64_t>* attr_ints(const Node& n, const char* key) {
  const Attribute* a = n.attr(key);
  return a != nullptr && a->kind == Attribute::Kind::ints ? &a->ints : nullptr;
}

Result<int64_t> axis_of(const Node& n, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return broken(n, fmt::format("axis {} outside rank {}", axis, rank));
  return axis < 0 ? axis + rank : axis;
}

Shape strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

Result<Tensor> sized(const Node& n, Tensor::Type type, Shape shape) {
  const int64_t count = element_count(shape);
  if (count < 0 || count > k_max_elements)
    return broken(n, "output shape " + shape_text(shape) + " is too large");
  Tensor t;
  t.type = type;
  t.shape = std::move(shape);
  if (type == Tensor::Type::f32)
    t.f.assign(static_cast<size_t>(count), 0.0f);
  else
    t.i.assign(static_cast<size_t>(count), 0);
  return t;
}

Result<Shape> broadcast_shape(const Node& n, const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()));
  for (size_t k = 0; k < out.size(); ++k) {
    const int64_t da = k < out.size() - a.size() ? 1 : a[k - (out.size() - a.size())];
    const int64_t db = k < out.size() - b.size() ? 1 : b[k - (out.size() - b.size())];
    if (da != db && da != 1 && db != 1)
      return broken(n, "shapes " + shape_text(a) + " and " + shape_text(b) + " do not broadcast");
    out[k] = da == 1 ? db : da;
  }
  const int64_t count = element_count(out);
  if (count < 0 || count > k_max_elements)
    return broken(n, "output shape " + shape_text(out) + " is too large");
  return out;
}

std::vector<int64_t> broadcast_offsets(const Shape& s, const Shape& out) {
  const int64_t count = element_count(out);
  std::vector<int64_t> offs(static_cast<size_t>(std::max<int64_t>(count, 0)));
  const size_t lead = out.size() - s.size();
  Shape st(out.size(), 0);
  const Shape own = strides(s);
  for (size_t k = 0; k < s.size(); ++k) st[lead + k] = s[k] == 1 ? 0 : own[k];
  Shape idx(out.size(), 0);
  int64_t off = 0;
  for (int64_t e = 0; e < count; ++e) {
    offs[static_cast<size_t>(e)] = off;
    for (size_t d = out.size(); d-- > 0;) {
      off += st[d];
      if (++idx[d] < out[d]) break;
      off -= st[d] * idx[d];
      idx[d] = 0;
    }
  }
  return offs;
}

Result<std::vector<int64_t>> int_list(const Node& n, const Tensor* t, const char* what) {
  if (t == nullptr) return std::vector<int64_t>();
  if (t->is_float() || t->rank() > 1) return broken(n, std::string(what) + " is not an int64 list");
  return t->i;
}

}  // namespace mb::onnx
