#include "runtime/onnx/interpreter.hpp"

#include <algorithm>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {

namespace {

const std::vector<OpEntry>& all_ops() {
  static const std::vector<OpEntry> ops = [] {
    std::vector<OpEntry> v;
    for (const auto* part : {&elementwise_ops(), &linalg_ops(), &shape_ops()})
      v.insert(v.end(), part->begin(), part->end());
    return v;
  }();
  return ops;
}

bool default_domain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

}  // namespace

OpFn find_op(const std::string& op_type) {
  for (const auto& e : all_ops())
    if (op_type == e.name) return e.fn;
  return nullptr;
}

const std::vector<std::string>& supported_ops() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& e : all_ops()) v.emplace_back(e.name);
    std::sort(v.begin(), v.end());
    return v;
  }();
  return names;
}

Status check_supported(const Graph& g) {
  for (const auto& n : g.nodes) {
    if (!default_domain(n.domain) || find_op(n.op_type) == nullptr)
      return fail(ErrorCategory::usage,
                  "onnx: op " + (default_domain(n.domain) ? "" : n.domain + ".") + n.op_type +
                      " (node '" + n.name + "') is not supported",
                  "inference runs the BERT-family graphs of torch.onnx.export and optimum");
  }
  return {};
}

Result<std::map<std::string, Tensor>> run_graph(const Graph& g,
                                                std::map<std::string, Tensor> inputs) {
  MB_TRY(check_supported(g));
  std::map<std::string, Tensor> values = std::move(inputs);
  auto lookup = [&](const std::string& name) -> const Tensor* {
    if (auto it = values.find(name); it != values.end()) return &it->second;
    if (auto it = g.initializers.find(name); it != g.initializers.end()) return &it->second;
    return nullptr;
  };
  for (const auto& n : g.nodes) {
    Inputs in;
    for (const auto& name : n.inputs) {
      const Tensor* t = name.empty() ? nullptr : lookup(name);
      if (!name.empty() && t == nullptr)
        return fail(ErrorCategory::integrity,
                    "onnx: node '" + n.name + "' (" + n.op_type + ") reads '" + name +
                        "', which nothing before it produces",
                    "the ONNX graph is malformed or not topologically sorted; export it again");
      in.push_back(t);
    }
    MB_ASSIGN(Outputs out, find_op(n.op_type)(n, in, g.opset));
    for (size_t k = 0; k < n.outputs.size() && k < out.size(); ++k)
      if (!n.outputs[k].empty()) values[n.outputs[k]] = std::move(out[k]);
  }
  std::map<std::string, Tensor> result;
  for (const auto& name : g.outputs) {
    const Tensor* t = lookup(name);
    if (t == nullptr)
      return fail(ErrorCategory::integrity, "onnx: graph output '" + name + "' is never produced",
                  "the ONNX graph is malformed; export it again");
    result[name] = *t;
  }
  return result;
}

}  // namespace mb::onnx
