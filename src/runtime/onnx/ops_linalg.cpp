// MatMul / Gemm, Gather (embedding lookups and index picks), reductions, Softmax and
// LayerNormalization. Accumulation in float32 except the LayerNorm/ReduceMean statistics
// (double), as close to ONNX Runtime's results as a plain loop gets.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {

namespace {

// out[m, n] += a[m, k] * b[k, n] (row-major, b's rows streamed so the inner loop vectorises).
void gemm_acc(const float* a, const float* b, float* out, int64_t m, int64_t k, int64_t n) {
  for (int64_t r = 0; r < m; ++r) {
    float* o = out + r * n;
    for (int64_t j = 0; j < k; ++j) {
      const float x = a[r * k + j];
      const float* brow = b + j * n;
      for (int64_t c = 0; c < n; ++c) o[c] += x * brow[c];
    }
  }
}

Result<Outputs> matmul(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor &a = *in[0], &b = *in[1];
  if (!a.is_float() || !b.is_float()) return refuse(n, "on integer tensors");
  if (a.rank() < 1 || b.rank() < 1) return broken(n, "inputs of rank 0");
  // Rank-1 operands as numpy promotes them.
  Shape as = a.shape, bs = b.shape;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), k2 = bs[bs.size() - 2], nn = bs.back();
  if (k != k2)
    return broken(
        n, "shapes " + shape_text(a.shape) + " and " + shape_text(b.shape) + " do not multiply");
  const Shape abatch(as.begin(), as.end() - 2), bbatch(bs.begin(), bs.end() - 2);
  MB_ASSIGN(Shape batch, broadcast_shape(n, abatch, bbatch));
  Shape oshape = batch;
  oshape.push_back(m);
  oshape.push_back(nn);
  MB_ASSIGN(Tensor out, sized(n, Tensor::Type::f32, oshape));
  const auto oa = broadcast_offsets(abatch, batch), ob = broadcast_offsets(bbatch, batch);
  const size_t count = std::max<size_t>(oa.size(), 1);
  for (size_t e = 0; e < count; ++e) {
    const int64_t ia = oa.empty() ? 0 : oa[e], ib = ob.empty() ? 0 : ob[e];
    gemm_acc(a.f.data() + ia * m * k, b.f.data() + ib * k * nn,
             out.f.data() + static_cast<int64_t>(e) * m * nn, m, k, nn);
  }
  if (a.rank() == 1) out.shape.erase(out.shape.end() - 2);
  if (b.rank() == 1) out.shape.pop_back();
  return Outputs{std::move(out)};
}

Tensor transposed2(const Tensor& t) {
  const int64_t r = t.shape[0], c = t.shape[1];
  std::vector<float> v(t.f.size());
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      v[static_cast<size_t>(j * r + i)] = t.f[static_cast<size_t>(i * c + j)];
  return Tensor::floats({c, r}, std::move(v));
}

Result<Outputs> gemm(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  if (!in[0]->is_float() || !in[1]->is_float() || in[0]->rank() != 2 || in[1]->rank() != 2)
    return broken(n, "expects two float matrices");
  const Tensor a = attr_i(n, "transA", 0) ? transposed2(*in[0]) : *in[0];
  const Tensor b = attr_i(n, "transB", 0) ? transposed2(*in[1]) : *in[1];
  const float alpha = attr_f(n, "alpha", 1.0f), beta = attr_f(n, "beta", 1.0f);
  const int64_t m = a.shape[0], k = a.shape[1], nn = b.shape[1];
  if (b.shape[0] != k) return broken(n, "shapes do not multiply");
  MB_ASSIGN(Tensor out, sized(n, Tensor::Type::f32, {m, nn}));
  gemm_acc(a.f.data(), b.f.data(), out.f.data(), m, k, nn);
  for (float& v : out.f) v *= alpha;
  if (in.size() > 2 && in[2] != nullptr) {
    const Tensor& c = *in[2];
    if (!c.is_float()) return broken(n, "C is not float");
    MB_ASSIGN(Shape s, broadcast_shape(n, out.shape, c.shape));
    if (s != out.shape) return broken(n, "C does not broadcast to the output");
    const auto oc = broadcast_offsets(c.shape, out.shape);
    for (size_t e = 0; e < oc.size(); ++e) out.f[e] += beta * c.f[static_cast<size_t>(oc[e])];
  }
  return Outputs{std::move(out)};
}

Result<Outputs> gather(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor &data = *in[0], &idx = *in[1];
  if (idx.is_float()) return broken(n, "indices are not integers");
  MB_ASSIGN(const int64_t axis, axis_of(n, attr_i(n, "axis", 0), data.rank()));
  Shape oshape(data.shape.begin(), data.shape.begin() + axis);
  oshape.insert(oshape.end(), idx.shape.begin(), idx.shape.end());
  oshape.insert(oshape.end(), data.shape.begin() + axis + 1, data.shape.end());
  MB_ASSIGN(Tensor out, sized(n, data.type, oshape));
  const int64_t dim = data.shape[static_cast<size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data.shape[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < data.rank(); ++d) inner *= data.shape[static_cast<size_t>(d)];
  const auto nidx = static_cast<int64_t>(idx.i.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < nidx; ++j) {
      int64_t p = idx.i[static_cast<size_t>(j)];
      if (p < 0) p += dim;
      if (p < 0 || p >= dim)
        return broken(n, fmt::format("index {} outside {}", idx.i[static_cast<size_t>(j)], dim));
      const int64_t src = (o * dim + p) * inner, dst = (o * nidx + j) * inner;
      for (int64_t c = 0; c < inner; ++c) {
        if (data.is_float())
          out.f[static_cast<size_t>(dst + c)] = data.f[static_cast<size_t>(src + c)];
        else
          out.i[static_cast<size_t>(dst + c)] = data.i[static_cast<size_t>(src + c)];
      }
    }
  }
  return Outputs{std::move(out)};
}

// Reduces the float input over `axes` (all when empty) with mean or sum.
Result<Outputs> reduce(const Node& n, const Inputs& in, int64_t opset) {
  MB_TRY(need_inputs(n, in, 1));
  const Tensor& x = *in[0];
  if (!x.is_float()) return refuse(n, "on integer tensors");
  std::vector<int64_t> axes;
  const bool axes_input = n.op_type == "ReduceSum" ? opset >= 13 : opset >= 18;
  if (axes_input) {
    MB_ASSIGN(axes, int_list(n, in.size() > 1 ? in[1] : nullptr, "axes"));
  } else if (const auto* a = attr_ints(n, "axes")) {
    axes = *a;
  }
  std::vector<bool> reduced(x.shape.size(), axes.empty());
  for (int64_t a : axes) {
    MB_ASSIGN(const int64_t ax, axis_of(n, a, x.rank()));
    reduced[static_cast<size_t>(ax)] = true;
  }
  const bool keep = attr_i(n, "keepdims", 1) != 0;
  Shape oshape, kept;
  for (size_t d = 0; d < x.shape.size(); ++d) {
    kept.push_back(reduced[d] ? 1 : x.shape[d]);
    if (!reduced[d] || keep) oshape.push_back(kept.back());
  }
  MB_ASSIGN(Tensor acc, sized(n, Tensor::Type::f32, kept));
  std::vector<double> sum(acc.f.size(), 0.0);
  const auto to = broadcast_offsets(kept, x.shape);
  for (size_t e = 0; e < to.size(); ++e) sum[static_cast<size_t>(to[e])] += x.f[e];
  const double count =
      acc.f.empty() ? 1.0 : static_cast<double>(x.f.size()) / static_cast<double>(acc.f.size());
  for (size_t e = 0; e < sum.size(); ++e)
    acc.f[e] = static_cast<float>(n.op_type == "ReduceMean" ? sum[e] / count : sum[e]);
  acc.shape = oshape;
  return Outputs{std::move(acc)};
}

// Softmax over the last axis; opset < 13 flattens from `axis` on (the same for the last axis).
Result<Outputs> softmax(const Node& n, const Inputs& in, int64_t opset) {
  MB_TRY(need_inputs(n, in, 1));
  Tensor out = *in[0];
  if (!out.is_float()) return broken(n, "expects a float input");
  MB_ASSIGN(const int64_t axis, axis_of(n, attr_i(n, "axis", opset >= 13 ? -1 : 1), out.rank()));
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < out.rank(); ++d) inner *= out.shape[static_cast<size_t>(d)];
  if (opset < 13) {  // coerced to 2-D at axis: one softmax over everything from axis on
    inner = 1;
  } else if (inner != 1) {
    return refuse(n, "over an axis other than the last");
  }
  int64_t row = 1;
  for (int64_t d = axis; d < out.rank(); ++d) row *= out.shape[static_cast<size_t>(d)];
  for (size_t base = 0; row > 0 && base < out.f.size(); base += static_cast<size_t>(row)) {
    float* v = out.f.data() + base;
    const float mx = *std::max_element(v, v + row);
    double s = 0;
    for (int64_t k = 0; k < row; ++k) s += (v[k] = std::exp(v[k] - mx));
    for (int64_t k = 0; k < row; ++k) v[k] = static_cast<float>(v[k] / s);
  }
  return Outputs{std::move(out)};
}

Result<Outputs> layer_norm(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  Tensor out = *in[0];
  const Tensor& scale = *in[1];
  const Tensor* bias = in.size() > 2 ? in[2] : nullptr;
  if (!out.is_float() || !scale.is_float() || (bias != nullptr && !bias->is_float()))
    return broken(n, "expects float inputs");
  MB_ASSIGN(const int64_t axis, axis_of(n, attr_i(n, "axis", -1), out.rank()));
  const double eps = attr_f(n, "epsilon", 1e-5f);
  int64_t row = 1;
  for (int64_t d = axis; d < out.rank(); ++d) row *= out.shape[static_cast<size_t>(d)];
  if (static_cast<int64_t>(scale.f.size()) != row ||
      (bias != nullptr && static_cast<int64_t>(bias->f.size()) != row))
    return broken(n, "scale/bias do not match the normalised size");
  for (size_t base = 0; row > 0 && base < out.f.size(); base += static_cast<size_t>(row)) {
    float* v = out.f.data() + base;
    double mean = 0, var = 0;
    for (int64_t k = 0; k < row; ++k) mean += v[k];
    mean /= static_cast<double>(row);
    for (int64_t k = 0; k < row; ++k) var += (v[k] - mean) * (v[k] - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(row) + eps);
    for (int64_t k = 0; k < row; ++k)
      v[k] = static_cast<float>((v[k] - mean) * inv * scale.f[static_cast<size_t>(k)] +
                                (bias != nullptr ? bias->f[static_cast<size_t>(k)] : 0.0f));
  }
  return Outputs{std::move(out)};
}

// Running sum along one axis (RoBERTa's position ids: cumsum of the non-pad mask).
Result<Outputs> cumsum(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  Tensor out = *in[0];
  MB_ASSIGN(std::vector<int64_t> ax, int_list(n, in[1], "axis"));
  if (ax.size() != 1) return broken(n, "axis is not one value");
  MB_ASSIGN(const int64_t axis, axis_of(n, ax[0], out.rank()));
  const bool exclusive = attr_i(n, "exclusive", 0) != 0, reverse = attr_i(n, "reverse", 0) != 0;
  const int64_t dim = out.shape[static_cast<size_t>(axis)];
  int64_t inner = 1, outer = 1;
  for (int64_t d = axis + 1; d < out.rank(); ++d) inner *= out.shape[static_cast<size_t>(d)];
  for (int64_t d = 0; d < axis; ++d) outer *= out.shape[static_cast<size_t>(d)];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < inner; ++c) {
      double acc = 0;
      for (int64_t s = 0; s < dim; ++s) {
        const int64_t k = reverse ? dim - 1 - s : s;
        const auto at = static_cast<size_t>((o * dim + k) * inner + c);
        const double v = out.at(at);
        if (!exclusive) acc += v;
        if (out.is_float())
          out.f[at] = static_cast<float>(acc);
        else
          out.i[at] = static_cast<int64_t>(acc);
        if (exclusive) acc += v;
      }
    }
  }
  return Outputs{std::move(out)};
}

}  // namespace

const std::vector<OpEntry>& linalg_ops() {
  static const std::vector<OpEntry> ops = {{"MatMul", matmul},
                                           {"Gemm", gemm},
                                           {"Gather", gather},
                                           {"ReduceMean", reduce},
                                           {"ReduceSum", reduce},
                                           {"Softmax", softmax},
                                           {"LayerNormalization", layer_norm},
                                           {"CumSum", cumsum}};
  return ops;
}

}  // namespace mb::onnx
