// Elementwise ops with numpy broadcasting: arithmetic, comparisons, Min/Max, Where, Expand,
// Cast, the activations of BERT-family graphs (Erf and Tanh GELU, ReLU) and what MPNet's
// relative position buckets need (Abs, Log, Min on int64).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {

namespace {

template <class F>
void each(size_t count, const std::vector<int64_t>& oa, const std::vector<int64_t>& ob, F f) {
  for (size_t e = 0; e < count; ++e) f(e, static_cast<size_t>(oa[e]), static_cast<size_t>(ob[e]));
}

Result<Outputs> arithmetic(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor &a = *in[0], &b = *in[1];
  if (a.is_float() != b.is_float()) return broken(n, "inputs of different types");
  MB_ASSIGN(Shape shape, broadcast_shape(n, a.shape, b.shape));
  MB_ASSIGN(Tensor out, sized(n, a.type, shape));
  const auto oa = broadcast_offsets(a.shape, shape), ob = broadcast_offsets(b.shape, shape);
  const char op = n.op_type == "Add"   ? '+'
                  : n.op_type == "Sub" ? '-'
                  : n.op_type == "Mul" ? '*'
                  : n.op_type == "Div" ? '/'
                                       : '^';
  if (a.is_float()) {
    each(oa.size(), oa, ob, [&](size_t e, size_t x, size_t y) {
      const float u = a.f[x], v = b.f[y];
      out.f[e] = op == '+'   ? u + v
                 : op == '-' ? u - v
                 : op == '*' ? u * v
                 : op == '/' ? u / v
                 : v == 2.0f ? u * u
                             : std::pow(u, v);
    });
    return Outputs{std::move(out)};
  }
  for (size_t e = 0; e < oa.size(); ++e) {
    const int64_t u = a.i[static_cast<size_t>(oa[e])], v = b.i[static_cast<size_t>(ob[e])];
    if (op == '/' && v == 0) return broken(n, "integer division by zero");
    out.i[e] = op == '+'   ? u + v
               : op == '-' ? u - v
               : op == '*' ? u * v
               : op == '/'
                   ? u / v
                   : static_cast<int64_t>(std::pow(static_cast<double>(u), static_cast<double>(v)));
  }
  return Outputs{std::move(out)};
}

Result<Outputs> compare(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor &a = *in[0], &b = *in[1];
  MB_ASSIGN(Shape shape, broadcast_shape(n, a.shape, b.shape));
  MB_ASSIGN(Tensor out, sized(n, Tensor::Type::i64, shape));
  const auto oa = broadcast_offsets(a.shape, shape), ob = broadcast_offsets(b.shape, shape);
  const std::string& op = n.op_type;
  each(oa.size(), oa, ob, [&](size_t e, size_t x, size_t y) {
    const double u = a.at(x), v = b.at(y);
    out.i[e] = op == "Equal"     ? u == v
               : op == "Less"    ? u < v
               : op == "Greater" ? u > v
               : op == "And"     ? (u != 0 && v != 0)
                                 : (u != 0 || v != 0);
  });
  return Outputs{std::move(out)};
}

Result<Outputs> unary(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  Tensor out = *in[0];
  const std::string& op = n.op_type;
  if (op == "Not") {
    if (out.is_float()) return broken(n, "expects a bool input");
    for (auto& v : out.i) v = v == 0;
    return Outputs{std::move(out)};
  }
  if ((op == "Neg" || op == "Abs") && !out.is_float()) {
    // Through uint64: the negation of INT64_MIN wraps to itself (as numpy's), never UB.
    for (auto& v : out.i) {
      if (op == "Neg" || v < 0) v = static_cast<int64_t>(0 - static_cast<uint64_t>(v));
    }
    return Outputs{std::move(out)};
  }
  if (!out.is_float()) return broken(n, "expects a float input");
  for (float& v : out.f) {
    if (op == "Sqrt")
      v = std::sqrt(v);
    else if (op == "Erf")
      v = std::erf(v);
    else if (op == "Tanh")
      v = std::tanh(v);
    else if (op == "Relu")
      v = v > 0 ? v : 0.0f;
    else if (op == "Neg")
      v = -v;
    else if (op == "Exp")
      v = std::exp(v);
    else if (op == "Sigmoid")
      v = 1.0f / (1.0f + std::exp(-v));
    else if (op == "Reciprocal")
      v = 1.0f / v;
    else if (op == "Abs")
      v = std::fabs(v);
    else if (op == "Log")
      v = std::log(v);
  }
  return Outputs{std::move(out)};
}

// Min / Max of one or more inputs (numpy broadcasting, one type); a NaN wins, so a broken
// value reaches the output check instead of vanishing.
Result<Outputs> min_max(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, std::max<size_t>(in.size(), 1)));
  const bool is_min = n.op_type == "Min";
  Tensor acc = *in[0];
  for (size_t k = 1; k < in.size(); ++k) {
    const Tensor& b = *in[k];
    if (acc.is_float() != b.is_float()) return broken(n, "inputs of different types");
    MB_ASSIGN(Shape shape, broadcast_shape(n, acc.shape, b.shape));
    MB_ASSIGN(Tensor out, sized(n, acc.type, shape));
    const auto oa = broadcast_offsets(acc.shape, shape), ob = broadcast_offsets(b.shape, shape);
    each(oa.size(), oa, ob, [&](size_t e, size_t x, size_t y) {
      if (acc.is_float()) {
        const float u = acc.f[x], v = b.f[y];
        out.f[e] = std::isnan(u) || std::isnan(v) ? std::numeric_limits<float>::quiet_NaN()
                   : is_min                       ? std::min(u, v)
                                                  : std::max(u, v);
      } else {
        out.i[e] = is_min ? std::min(acc.i[x], b.i[y]) : std::max(acc.i[x], b.i[y]);
      }
    });
    acc = std::move(out);
  }
  return Outputs{std::move(acc)};
}

Result<Outputs> where(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 3));
  const Tensor &c = *in[0], &x = *in[1], &y = *in[2];
  if (c.is_float() || x.is_float() != y.is_float()) return broken(n, "input types do not fit");
  MB_ASSIGN(Shape s1, broadcast_shape(n, c.shape, x.shape));
  MB_ASSIGN(Shape shape, broadcast_shape(n, s1, y.shape));
  MB_ASSIGN(Tensor out, sized(n, x.type, shape));
  const auto oc = broadcast_offsets(c.shape, shape), ox = broadcast_offsets(x.shape, shape),
             oy = broadcast_offsets(y.shape, shape);
  for (size_t e = 0; e < oc.size(); ++e) {
    const bool pick = c.i[static_cast<size_t>(oc[e])] != 0;
    const auto xo = static_cast<size_t>(ox[e]), yo = static_cast<size_t>(oy[e]);
    if (x.is_float())
      out.f[e] = pick ? x.f[xo] : y.f[yo];
    else
      out.i[e] = pick ? x.i[xo] : y.i[yo];
  }
  return Outputs{std::move(out)};
}

Result<Outputs> expand(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 2));
  const Tensor& x = *in[0];
  MB_ASSIGN(std::vector<int64_t> want, int_list(n, in[1], "shape"));
  MB_ASSIGN(Shape shape, broadcast_shape(n, x.shape, want));
  MB_ASSIGN(Tensor out, sized(n, x.type, shape));
  const auto ox = broadcast_offsets(x.shape, shape);
  for (size_t e = 0; e < ox.size(); ++e) {
    if (x.is_float())
      out.f[e] = x.f[static_cast<size_t>(ox[e])];
    else
      out.i[e] = x.i[static_cast<size_t>(ox[e])];
  }
  return Outputs{std::move(out)};
}

Result<Outputs> cast(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  const int64_t to = attr_i(n, "to", 0);
  const Tensor& x = *in[0];
  const bool to_float = to == 1 || to == 10 || to == 11 || to == 16;
  const bool to_int = to == 2 || to == 3 || to == 6 || to == 7 || to == 9;
  if (!to_float && !to_int) return refuse(n, "to type " + std::to_string(to));
  if (to_float) {
    if (x.is_float()) return Outputs{x};
    std::vector<float> v(x.i.begin(), x.i.end());
    return Outputs{Tensor::floats(x.shape, std::move(v))};
  }
  // A float outside int64's range (MPNet's log(0) = -inf before Where drops it, NaN) becomes
  // INT64_MIN, as x86's cvttsd2si and so ONNX Runtime give; the C++ cast would be undefined.
  std::vector<int64_t> v(x.size());
  for (size_t k = 0; k < v.size(); ++k) {
    const double d = x.at(k);
    const bool fits = d >= -9223372036854775808.0 && d < 9223372036854775808.0;
    v[k] = to == 9         ? d != 0
           : !x.is_float() ? x.i[k]
           : fits          ? static_cast<int64_t>(d)
                           : std::numeric_limits<int64_t>::min();
  }
  return Outputs{Tensor::ints(x.shape, std::move(v))};
}

Result<Outputs> identity(const Node& n, const Inputs& in, int64_t) {
  MB_TRY(need_inputs(n, in, 1));
  return Outputs{*in[0]};
}

}  // namespace

const std::vector<OpEntry>& elementwise_ops() {
  static const std::vector<OpEntry> ops = {
      {"Add", arithmetic}, {"Sub", arithmetic}, {"Mul", arithmetic},    {"Div", arithmetic},
      {"Pow", arithmetic}, {"Equal", compare},  {"Less", compare},      {"Greater", compare},
      {"And", compare},    {"Or", compare},     {"Not", unary},         {"Sqrt", unary},
      {"Erf", unary},      {"Tanh", unary},     {"Relu", unary},        {"Neg", unary},
      {"Exp", unary},      {"Sigmoid", unary},  {"Reciprocal", unary},  {"Where", where},
      {"Expand", expand},  {"Cast", cast},      {"Identity", identity}, {"Dropout", identity},
      {"Abs", unary},      {"Log", unary},      {"Min", min_max},       {"Max", min_max}};
  return ops;
}

}  // namespace mb::onnx
