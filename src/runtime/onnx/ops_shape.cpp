// Shape and layout ops: Reshape, Transpose, (Un)squeeze, Concat, Slice, Shape, Constant,
// ConstantOfShape, Range. Data-dependent shapes are checked and bounded (k_max_elements).
#include <fmt/format.h>

#include <algorithm>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {

namespace {

Tensor reshaped(Tensor t, Shape shape) {
  t.shape = std::move(shape);
  return t;
}

Result<Outputs> reshape(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor& x = *in[0];
  MB_ASSIGN(Shape want, int_list(n, in[1], "shape"));
  int64_t known = 1, infer_at = -1;
  for (size_t d = 0; d < want.size(); ++d) {
    if (want[d] == 0 && attr_i(n, "allowzero", 0) == 0) {
      if (d >= x.shape.size()) return broken(n, "0 in shape beyond the input's rank");
      want[d] = x.shape[d];
    }
    if (want[d] == -1) {
      if (infer_at >= 0) return broken(n, "two -1 in shape");
      infer_at = static_cast<int64_t>(d);
    } else if (want[d] < 0) {
      return broken(n, "negative dimension in shape");
    } else {
      known *= want[d];
      if (known > k_max_elements) return broken(n, "shape too large");
    }
  }
  const auto total = static_cast<int64_t>(x.size());
  if (infer_at >= 0) {
    if (known == 0 || total % known != 0) return broken(n, "cannot infer the -1 dimension");
    want[static_cast<size_t>(infer_at)] = total / known;
  }
  if (element_count(want) != total)
    return broken(n, "shape " + shape_text(want) + " does not hold " + shape_text(x.shape));
  return Outputs{reshaped(x, want)};
}

Result<Outputs> transpose(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  const Tensor& x = *in[0];
  const auto rank = static_cast<size_t>(x.rank());
  std::vector<int64_t> perm(rank);
  if (const auto* p = attr_ints(n, "perm")) {
    perm = *p;
  } else {
    for (size_t d = 0; d < rank; ++d) perm[d] = static_cast<int64_t>(rank - 1 - d);
  }
  std::vector<bool> seen(rank, false);
  if (perm.size() != rank) return broken(n, "perm does not match the rank");
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)])
      return broken(n, "perm is not a permutation");
    seen[static_cast<size_t>(p)] = true;
  }
  Shape oshape(rank);
  for (size_t d = 0; d < rank; ++d) oshape[d] = x.shape[static_cast<size_t>(perm[d])];
  MB_ASSIGN(Tensor out, sized(n, x.type, oshape));
  const Shape in_st = strides(x.shape);
  Shape st(rank);  // stride in x of each output dimension
  for (size_t d = 0; d < rank; ++d) st[d] = in_st[static_cast<size_t>(perm[d])];
  Shape idx(rank, 0);
  int64_t off = 0;
  for (size_t e = 0; e < out.size(); ++e) {
    if (x.is_float())
      out.f[e] = x.f[static_cast<size_t>(off)];
    else
      out.i[e] = x.i[static_cast<size_t>(off)];
    for (size_t d = rank; d-- > 0;) {
      off += st[d];
      if (++idx[d] < oshape[d]) break;
      off -= st[d] * idx[d];
      idx[d] = 0;
    }
  }
  return Outputs{std::move(out)};
}

// Axes from the attribute (opset < 13) or the second input.
Result<std::vector<int64_t>> axes_of(const Node& n, const Inputs& in, int64_t opset) {
  if (opset >= 13) return int_list(n, in.size() > 1 ? in[1] : nullptr, "axes");
  const auto* a = attr_ints(n, "axes");
  return a != nullptr ? *a : std::vector<int64_t>();
}

Result<Outputs> unsqueeze(const Node& n, const Inputs& in, int64_t opset) {
  MB_TRY(need_inputs(n, in, 1));
  MB_ASSIGN(std::vector<int64_t> axes, axes_of(n, in, opset));
  const auto rank = static_cast<int64_t>(in[0]->shape.size() + axes.size());
  std::vector<bool> unit(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    MB_ASSIGN(const int64_t ax, axis_of(n, a, rank));
    unit[static_cast<size_t>(ax)] = true;
  }
  Shape shape;
  size_t k = 0;
  for (int64_t d = 0; d < rank; ++d) {
    if (unit[static_cast<size_t>(d)])
      shape.push_back(1);
    else if (k < in[0]->shape.size())
      shape.push_back(in[0]->shape[k++]);
    else
      return broken(n, "repeated axes");
  }
  return Outputs{reshaped(*in[0], shape)};
}

Result<Outputs> squeeze(const Node& n, const Inputs& in, int64_t opset) {
  MB_TRY(need_inputs(n, in, 1));
  MB_ASSIGN(std::vector<int64_t> axes, axes_of(n, in, opset));
  const Tensor& x = *in[0];
  std::vector<bool> drop(x.shape.size(), false);
  for (size_t d = 0; d < x.shape.size(); ++d) drop[d] = axes.empty() && x.shape[d] == 1;
  for (int64_t a : axes) {
    MB_ASSIGN(const int64_t ax, axis_of(n, a, x.rank()));
    if (x.shape[static_cast<size_t>(ax)] != 1)
      return broken(n, "squeezes a dimension that is not 1");
    drop[static_cast<size_t>(ax)] = true;
  }
  Shape shape;
  for (size_t d = 0; d < x.shape.size(); ++d)
    if (!drop[d]) shape.push_back(x.shape[d]);
  return Outputs{reshaped(x, shape)};
}

Result<Outputs> concat(const Node& n, const Inputs& in, int64_t) {
  if (in.empty() || in[0] == nullptr) return broken(n, "no inputs");
  const Tensor& first = *in[0];
  MB_ASSIGN(const int64_t axis, axis_of(n, attr_i(n, "axis", 0), first.rank()));
  Shape shape = first.shape;
  shape[static_cast<size_t>(axis)] = 0;
  for (const Tensor* t : in) {
    if (t == nullptr || t->type != first.type || t->rank() != first.rank())
      return broken(n, "inputs do not fit");
    for (int64_t d = 0; d < first.rank(); ++d)
      if (d != axis && t->shape[static_cast<size_t>(d)] != first.shape[static_cast<size_t>(d)])
        return broken(n, "inputs do not fit");
    shape[static_cast<size_t>(axis)] += t->shape[static_cast<size_t>(axis)];
  }
  MB_ASSIGN(Tensor out, sized(n, first.type, shape));
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  size_t at = 0;
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor* t : in) {
      const size_t chunk = outer == 0 ? 0 : t->size() / static_cast<size_t>(outer);
      for (size_t c = 0; c < chunk; ++c, ++at) {
        if (first.is_float())
          out.f[at] = t->f[static_cast<size_t>(o) * chunk + c];
        else
          out.i[at] = t->i[static_cast<size_t>(o) * chunk + c];
      }
    }
  }
  return Outputs{std::move(out)};
}

Result<Outputs> slice(const Node& n, const Inputs& in, int64_t opset) {
  MB_TRY(need_inputs(n, in, opset >= 10 ? 3 : 1));
  const Tensor& x = *in[0];
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset >= 10) {
    MB_ASSIGN(starts, int_list(n, in[1], "starts"));
    MB_ASSIGN(ends, int_list(n, in[2], "ends"));
    MB_ASSIGN(axes, int_list(n, in.size() > 3 ? in[3] : nullptr, "axes"));
    MB_ASSIGN(steps, int_list(n, in.size() > 4 ? in[4] : nullptr, "steps"));
  } else {
    if (const auto* a = attr_ints(n, "starts")) starts = *a;
    if (const auto* a = attr_ints(n, "ends")) ends = *a;
    if (const auto* a = attr_ints(n, "axes")) axes = *a;
  }
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    return broken(n, "starts/ends/axes/steps differ in length");
  const auto rank = static_cast<size_t>(x.rank());
  std::vector<int64_t> lo(rank, 0), step(rank, 1), count(x.shape);
  for (size_t k = 0; k < starts.size(); ++k) {
    MB_ASSIGN(const int64_t ax, axis_of(n, axes[k], x.rank()));
    const int64_t dim = x.shape[static_cast<size_t>(ax)], s = steps[k];
    if (s == 0) return broken(n, "step 0");
    auto clamp = [&](int64_t v, bool is_end) {
      if (v < 0) v += dim;
      // ONNX: forward slices clamp to [0, dim]; backward starts to [0, dim - 1], ends to
      // [-1, dim - 1] (-1: through element 0).
      return s > 0 ? std::clamp<int64_t>(v, 0, dim)
                   : std::clamp<int64_t>(v, is_end ? -1 : 0, dim - 1);
    };
    const int64_t b = clamp(starts[k], false), e = clamp(ends[k], true);
    const int64_t c =
        s > 0 ? (e > b ? (e - b + s - 1) / s : 0) : (b > e ? (b - e - s - 1) / -s : 0);
    lo[static_cast<size_t>(ax)] = b;
    step[static_cast<size_t>(ax)] = s;
    count[static_cast<size_t>(ax)] = c;
  }
  MB_ASSIGN(Tensor out, sized(n, x.type, count));
  const Shape st = strides(x.shape);
  Shape idx(rank, 0);
  for (size_t e = 0; e < out.size(); ++e) {
    int64_t off = 0;
    for (size_t d = 0; d < rank; ++d) off += (lo[d] + idx[d] * step[d]) * st[d];
    if (x.is_float())
      out.f[e] = x.f[static_cast<size_t>(off)];
    else
      out.i[e] = x.i[static_cast<size_t>(off)];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < count[d]) break;
      idx[d] = 0;
    }
  }
  return Outputs{std::move(out)};
}

Result<Outputs> shape_of(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  const int64_t rank = in[0]->rank();
  int64_t b = attr_i(n, "start", 0), e = attr_i(n, "end", rank);
  b = std::clamp<int64_t>(b < 0 ? b + rank : b, 0, rank);
  e = std::clamp<int64_t>(e < 0 ? e + rank : e, 0, rank);
  std::vector<int64_t> dims(in[0]->shape.begin() + b, in[0]->shape.begin() + std::max(b, e));
  const auto len = static_cast<int64_t>(dims.size());
  return Outputs{Tensor::ints({len}, std::move(dims))};
}

Result<Outputs> constant(const Node& n, const Inputs&, int64_t) {
  for (const auto& a : n.attributes) {
    using K = Attribute::Kind;
    if (a.name == "value" && a.kind == K::t) return Outputs{a.t};
    if (a.name == "value_float" && a.kind == K::f) return Outputs{Tensor::floats({}, {a.f})};
    if (a.name == "value_int" && a.kind == K::i) return Outputs{Tensor::ints({}, {a.i})};
    if (a.name == "value_floats" && a.kind == K::floats)
      return Outputs{Tensor::floats({static_cast<int64_t>(a.floats.size())}, a.floats)};
    if (a.name == "value_ints" && a.kind == K::ints)
      return Outputs{Tensor::ints({static_cast<int64_t>(a.ints.size())}, a.ints)};
  }
  return refuse(n, "without a tensor, float or int value");
}

Result<Outputs> constant_of_shape(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  MB_ASSIGN(Shape shape, int_list(n, in[0], "shape"));
  const Attribute* v = n.attr("value");
  Tensor fill = Tensor::floats({1}, {0.0f});
  if (v != nullptr && v->kind == Attribute::Kind::t) {
    if (v->t.size() != 1) return broken(n, "value is not one element");
    fill = v->t;
  }
  MB_ASSIGN(Tensor out, sized(n, fill.type, shape));
  if (fill.is_float())
    std::fill(out.f.begin(), out.f.end(), fill.f[0]);
  else
    std::fill(out.i.begin(), out.i.end(), fill.i[0]);
  return Outputs{std::move(out)};
}

Result<Outputs> range(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 3));
  const Tensor &s = *in[0], &l = *in[1], &d = *in[2];
  if (s.size() != 1 || l.size() != 1 || d.size() != 1) return broken(n, "inputs are not scalars");
  const double start = s.at(0), limit = l.at(0), delta = d.at(0);
  if (delta == 0) return broken(n, "delta 0");
  const double steps = std::ceil((limit - start) / delta);
  if (!(steps <= static_cast<double>(k_max_elements))) return broken(n, "too many elements");
  const auto count = static_cast<int64_t>(std::max(0.0, steps));
  if (s.is_float()) {
    std::vector<float> v(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k)
      v[static_cast<size_t>(k)] = static_cast<float>(start + k * delta);
    return Outputs{Tensor::floats({count}, std::move(v))};
  }
  std::vector<int64_t> v(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k)
    v[static_cast<size_t>(k)] = static_cast<int64_t>(start) + k * static_cast<int64_t>(delta);
  return Outputs{Tensor::ints({count}, std::move(v))};
}

}  // namespace

const std::vector<OpEntry>& shape_ops() {
  static const std::vector<OpEntry> ops = {
      {"Reshape", reshape}, {"Transpose", transpose}, {"Unsqueeze", unsqueeze},
      {"Squeeze", squeeze}, {"Concat", concat},       {"Slice", slice},
      {"Shape", shape_of},  {"Constant", constant},   {"ConstantOfShape", constant_of_shape},
      {"Range", range}};
  return ops;
}

}  // namespace mb::onnx
