#include "runtime/probe/onnx_probe.hpp"

#include <chrono>

#include "core/paths.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/onnx/graph.hpp"
#include "runtime/onnx/interpreter.hpp"

namespace mb::infer {

namespace {

std::string dir_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash + 1);
}

// External data of `model_rel`: a plain relative path below the model's folder, the range
// inside the file (checked against its size, never trusted).
onnx::ExternalReader external_reader(const ModelFiles& files, const std::string& model_rel) {
  return [&files, base = dir_of(model_rel)](const std::string& location, uint64_t offset,
                                            int64_t length) -> Result<std::string> {
    MB_TRY(validate_relative_path(location, "ONNX external data location"));
    MB_ASSIGN(MappedFile m, files.map(base + location));
    const uint64_t size = m.size();
    const uint64_t len =
        length < 0 ? (offset <= size ? size - offset : 0) : static_cast<uint64_t>(length);
    if (offset > size || len > size - offset)
      return fail(ErrorCategory::integrity,
                  "onnx: external data " + location + " [" + std::to_string(offset) + ", +" +
                      std::to_string(len) + ") lies outside the " + std::to_string(size) +
                      "-byte file",
                  "the ONNX export is truncated or corrupt; fetch it again");
    return std::string(reinterpret_cast<const char*>(m.data()) + offset, len);
  };
}

Result<std::map<std::string, onnx::Tensor>> feeds(const onnx::Graph& g,
                                                  const std::vector<int32_t>& ids) {
  const auto t = static_cast<int64_t>(ids.size());
  std::map<std::string, onnx::Tensor> in;
  for (const auto& name : g.inputs) {
    std::vector<int64_t> v(ids.size(), 0);
    if (name == "input_ids")
      v.assign(ids.begin(), ids.end());
    else if (name == "attention_mask")
      v.assign(ids.size(), 1);
    else if (name != "token_type_ids")
      return fail(ErrorCategory::usage, "onnx: graph input '" + name + "' is not supported",
                  "inference feeds input_ids, attention_mask and token_type_ids");
    in[name] = onnx::Tensor::ints({1, t}, std::move(v));
  }
  return in;
}

Result<OnnxOutput> first_output(const onnx::Graph& g, std::map<std::string, onnx::Tensor> out) {
  if (g.outputs.empty()) return fail(ErrorCategory::integrity, "onnx: the graph has no output");
  onnx::Tensor& t = out[g.outputs.front()];
  if (!t.is_float() || t.shape.empty() || t.shape[0] != 1 || (t.rank() != 2 && t.rank() != 3))
    return fail(ErrorCategory::usage, "onnx: output '" + g.outputs.front() + "' of shape " +
                                          onnx::shape_text(t.shape) +
                                          " is neither hidden states [1, T, H] nor logits [1, N]");
  return OnnxOutput{g.outputs.front(), t.shape, std::move(t.f)};
}

}  // namespace

std::string onnx_model_file(const ModelFiles& files) {
  for (const char* rel : {"onnx/model.onnx", "model.onnx"})
    if (files.exists(rel) && files.locked(rel)) return rel;
  return "";
}

Result<OnnxOutput> run_onnx(const ModelFiles& files, const std::string& rel,
                            const std::vector<int32_t>& ids) {
  MB_ASSIGN(MappedFile m, files.map(rel));
  MB_ASSIGN(onnx::Graph g,
            onnx::load_graph(runtime::ByteSpan{m.data(), m.size()}, external_reader(files, rel)));
  MB_TRY(onnx::check_supported(g));
  MB_ASSIGN(auto in, feeds(g, ids));
  MB_ASSIGN(auto out, onnx::run_graph(g, std::move(in)));
  return first_output(g, std::move(out));
}

Result<std::vector<double>> time_onnx(const std::string& model_file,
                                      const std::vector<int32_t>& ids, int runs) {
  const auto slash = model_file.rfind('/');
  ModelFiles files(slash == std::string::npos ? "." : model_file.substr(0, slash));
  const std::string rel = slash == std::string::npos ? model_file : model_file.substr(slash + 1);
  MB_ASSIGN(MappedFile m, files.map(rel));
  MB_ASSIGN(onnx::Graph g,
            onnx::load_graph(runtime::ByteSpan{m.data(), m.size()}, external_reader(files, rel)));
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    MB_ASSIGN(auto in, feeds(g, ids));
    const auto t0 = std::chrono::steady_clock::now();
    MB_ASSIGN(auto out, onnx::run_graph(g, std::move(in)));
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return ms;
}

}  // namespace mb::infer
