#include "runtime/probe/probe.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/file.hpp"
#include "core/paths.hpp"
#include "runtime/encoder/encoder.hpp"
#include "runtime/formats/json_fields.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/onnx/tensor.hpp"
#include "runtime/probe/decoder_probe.hpp"
#include "runtime/probe/expect.hpp"
#include "runtime/probe/onnx_probe.hpp"
#include "runtime/tokenizers/tokenizer.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Pooling {
  std::vector<std::string> modes;  // in sentence-transformers' concatenation order
  bool normalize = false;
  size_t max_seq_length = 0;  // sentence_bert_config.json (0: not set)
};

Error st_error(const std::string& what) {
  return make_error(ErrorCategory::integrity, what,
                    "the sentence-transformers files are malformed");
}

// Reads modules.json / <pooling>/config.json / sentence_bert_config.json. `unsupported` is set
// for module types we cannot apply (e.g. Dense), which would change the output.
Result<Pooling> read_pooling(const ModelFiles& files, std::string* unsupported) {
  Pooling p;
  if (files.exists("sentence_bert_config.json")) {
    MB_ASSIGN(std::string text, files.read("sentence_bert_config.json"));
    json j = parse_json(text);
    if (!j.is_object()) return st_error("sentence_bert_config.json is not a JSON object");
    if (j.contains("max_seq_length") && j["max_seq_length"].is_number_unsigned())
      p.max_seq_length = j["max_seq_length"].get<size_t>();
  }
  if (!files.exists("modules.json")) {
    p.modes = {"mean"};
    return p;
  }
  MB_ASSIGN(std::string text, files.read("modules.json"));
  json mods = parse_json(text);
  if (!mods.is_array()) return st_error("modules.json is not a JSON array");
  std::string pooling_path;
  for (const auto& m : mods) {
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string())
      return st_error("modules.json entry has no type");
    const std::string type = m["type"].get<std::string>();
    MB_ASSIGN(const std::string path, string_field(m, "path", "", "modules.json"));
    if (type == "sentence_transformers.models.Transformer") continue;
    if (type == "sentence_transformers.models.Normalize") {
      p.normalize = true;
    } else if (type == "sentence_transformers.models.Pooling") {
      MB_TRY(validate_relative_path(path, "Pooling path in modules.json"));
      pooling_path = path;
    } else {
      *unsupported = "unsupported sentence-transformers module " + type;
      return p;
    }
  }
  if (pooling_path.empty()) {
    p.modes = {"mean"};
    return p;
  }
  MB_ASSIGN(std::string ptext, files.read(pooling_path + "/config.json"));
  json pc = parse_json(ptext);
  if (!pc.is_object()) return st_error(pooling_path + "/config.json is not a JSON object");
  static const char* k_known[][2] = {{"pooling_mode_cls_token", "cls"},
                                     {"pooling_mode_max_tokens", "max"},
                                     {"pooling_mode_mean_tokens", "mean"},
                                     {"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"}};
  const std::string pc_file = pooling_path + "/config.json";
  for (const auto& k : k_known) {
    MB_ASSIGN(const bool on, bool_field(pc, k[0], false, pc_file));
    if (on) p.modes.emplace_back(k[1]);
  }
  for (const char* other : {"pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"}) {
    MB_ASSIGN(const bool on, bool_field(pc, other, false, pc_file));
    if (on) *unsupported = std::string("unsupported pooling ") + other;
  }
  if (p.modes.empty() && unsupported->empty())
    *unsupported = "Pooling config enables no pooling mode";
  return p;
}

std::vector<float> pool(const std::vector<float>& hidden, int t, int h, const Pooling& p) {
  std::vector<float> out;
  for (const auto& mode : p.modes) {
    std::vector<double> acc(static_cast<size_t>(h), mode == "max" ? -INFINITY : 0.0);
    for (int i = 0; i < t; ++i) {
      if (mode == "cls" && i > 0) break;
      const float* row = hidden.data() + static_cast<size_t>(i) * h;
      for (int c = 0; c < h; ++c)
        acc[c] = mode == "max" ? std::max<double>(acc[c], row[c]) : acc[c] + row[c];
    }
    const double div = mode == "mean"            ? t
                       : mode == "mean_sqrt_len" ? std::sqrt(static_cast<double>(t))
                                                 : 1.0;
    for (double v : acc) out.push_back(static_cast<float>(v / div));
  }
  if (p.normalize) {
    double n = 0;
    for (float v : out) n += static_cast<double>(v) * v;
    n = std::max(std::sqrt(n), 1e-12);  // torch.nn.functional.normalize's eps
    for (float& v : out) v = static_cast<float>(v / n);
  }
  return out;
}

// Everything needed to run one text, loaded once.
struct Engine {
  Tokenizer tokenizer;
  Weights weights;
  EncoderConfig config;
  Encoder encoder;
  Pooling pooling;
  size_t max_length = 0;
  // A model without safetensors weights but with an ONNX export runs the export instead.
  const ModelFiles* files = nullptr;
  std::string onnx_only;

  // The export's first output as the probe output: hidden states [1, T, H] pooled like the
  // encoder's, logits [1, N] of a classifier as they are.
  Result<std::vector<float>> from_onnx(const OnnxOutput& out, size_t tokens) const {
    const bool hidden = out.shape.size() == 3;
    if (hidden == config.classifier ||
        (hidden && (out.shape[1] != static_cast<int64_t>(tokens) || out.shape[2] != config.hidden)))
      return fail(ErrorCategory::integrity,
                  "onnx: output '" + out.name + "' has shape " + onnx::shape_text(out.shape) +
                      ", config.json implies " +
                      (config.classifier ? "logits [1, num_labels]"
                                         : fmt::format("[1, {}, {}]", tokens, config.hidden)),
                  "the ONNX export does not belong to this model");
    if (!hidden) return out.values;
    return pool(out.values, static_cast<int>(tokens), config.hidden, pooling);
  }

  Result<std::vector<float>> run(const std::string& text, std::vector<int32_t>* ids_out) const {
    std::vector<int32_t> ids = tokenizer.encode(text, max_length);
    if (ids.empty())
      return fail(ErrorCategory::usage, "probe text \"" + text + "\" produced no tokens");
    for (int32_t id : ids)
      if (id < 0 || id >= config.vocab_size)
        return fail(ErrorCategory::integrity,
                    fmt::format("tokenizer produced id {} outside the embedding matrix ({} rows)",
                                id, config.vocab_size),
                    "tokenizer.json does not belong to these weights");
    if (ids_out != nullptr) *ids_out = ids;
    if (!onnx_only.empty()) {
      MB_ASSIGN(OnnxOutput out, run_onnx(*files, onnx_only, ids));
      return from_onnx(out, ids.size());
    }
    std::vector<float> hidden = encoder.forward(ids);
    if (config.classifier) return encoder.classify(hidden);
    return pool(hidden, static_cast<int>(ids.size()), config.hidden, pooling);
  }
};

// Runs the model's ONNX export (if any) on the probe's ids beside the safetensors output and
// compares them elementwise: the two must be the same model. An export using an op the
// interpreter lacks is reported, not failed (the safetensors output was checked).
Status compare_onnx(const Engine& e, const Expectations& expect, ProbeResult& r) {
  r.onnx_file = onnx_model_file(*e.files);
  if (r.onnx_file.empty()) return {};
  auto out = run_onnx(*e.files, r.onnx_file, r.token_ids);
  if (!out.ok()) {
    if (out.error().category != ErrorCategory::usage) return out.error().with_context(r.onnx_file);
    r.onnx_status = "unsupported: " + out.error().message;
    return {};
  }
  MB_ASSIGN(r.onnx_output, e.from_onnx(*out, r.token_ids.size()));
  r.onnx_status = "ok";
  if (r.onnx_output.size() != r.output.size()) {
    r.expectation_failures.push_back(
        fmt::format("the ONNX export gives {} values, the safetensors weights {}",
                    r.onnx_output.size(), r.output.size()));
    return {};
  }
  const double tolerance = expect.has_reference ? expect.tolerance : Expectations{}.tolerance;
  size_t worst = 0;
  double diff = 0;
  for (size_t i = 0; i < r.output.size(); ++i) {
    const double d = std::fabs(static_cast<double>(r.onnx_output[i]) - r.output[i]);
    if (!(d <= diff)) diff = d, worst = i;  // NaN counts as the worst
  }
  r.onnx_max_abs_diff = diff;
  if (!(diff <= tolerance))
    r.expectation_failures.push_back(fmt::format(
        "the ONNX export ({}) disagrees with the safetensors weights: value {} is {:.6g}, not "
        "{:.6g} (tolerance {:.6g})",
        r.onnx_file, worst, r.onnx_output[worst], r.output[worst], tolerance));
  return {};
}

ProbeResult unsupported_result(const EncoderConfig& c, std::string reason) {
  ProbeResult r;
  r.supported = false;
  r.architecture = c.architecture.empty() ? c.model_type : c.architecture;
  r.model_type = c.model_type;
  r.unsupported_reason = std::move(reason);
  return r;
}

// Loads everything; sets `unsupported` (and returns a partly filled engine) when the model
// is not one we can run.
Result<std::unique_ptr<Engine>> load_engine(const ModelFiles& files, std::string* unsupported) {
  MB_ASSIGN(std::string config_text, files.read("config.json"));
  auto e = std::make_unique<Engine>();
  MB_ASSIGN(e->config, parse_encoder_config(config_text, unsupported));
  if (!unsupported->empty()) return e;
  MB_ASSIGN(std::string tok_text, files.read("tokenizer.json", 512ull << 20));
  auto tok = Tokenizer::from_json(tok_text);
  if (!tok.ok()) {
    if (tok.error().category != ErrorCategory::usage)
      return tok.error().with_context("tokenizer.json");
    *unsupported = tok.error().message;
    return e;
  }
  e->tokenizer = std::move(*tok);
  if (!e->config.classifier) {
    MB_ASSIGN(e->pooling, read_pooling(files, unsupported));
    if (!unsupported->empty()) return e;
  }
  e->max_length =
      static_cast<size_t>(std::max(1, e->config.max_positions - e->config.position_offset));
  if (e->pooling.max_seq_length > 0)
    e->max_length = std::min(e->max_length, e->pooling.max_seq_length);
  e->files = &files;
  if (!files.exists("model.safetensors") && !files.exists("model.safetensors.index.json") &&
      !(e->onnx_only = onnx_model_file(files)).empty())
    return e;
  MB_ASSIGN(e->weights, Weights::open(files));
  // The encoder points into e->weights, which lives on the heap and never moves again.
  MB_ASSIGN(e->encoder, Encoder::load(e->weights, e->config));
  return e;
}

}  // namespace

Result<std::vector<double>> time_forward(const std::string& model_dir, const std::string& text,
                                         int runs) {
  std::string reason;
  MB_ASSIGN(auto e, load_engine(ModelFiles(model_dir), &reason));
  if (!reason.empty()) return fail(ErrorCategory::usage, reason);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = Clock::now();
    MB_ASSIGN(auto out, e->run(text, nullptr));
    ms.push_back(ms_since(t0));
  }
  return ms;
}

Result<ProbeResult> run_probe(const std::string& model_dir, const std::string& expect_json) {
  return run_probe(ModelFiles(model_dir), expect_json);
}

Result<ProbeResult> run_probe(const ModelFiles& files, const std::string& expect_json) {
  MB_ASSIGN(Expectations expect, parse_expectations(expect_json));
  if (const std::string gguf = gguf_model_file(files); !gguf.empty()) {
    MB_TRY(check_applicable(expect, true));
    return run_gguf_probe(files, gguf, expect);
  }
  if (files.exists("config.json")) {
    MB_ASSIGN(std::string config_text, files.read("config.json"));
    if (is_decoder_config(config_text)) {
      MB_TRY(check_applicable(expect, true));
      return run_decoder_probe(files, expect, config_text);
    }
  }
  const auto t_load = Clock::now();
  std::string reason;
  MB_ASSIGN(auto engine, load_engine(files, &reason));
  if (!reason.empty()) return unsupported_result(engine->config, reason);
  MB_TRY(check_applicable(expect, false));
  const Engine& e = *engine;

  ProbeResult r;
  r.supported = true;
  r.architecture = e.config.architecture.empty() ? e.config.model_type : e.config.architecture;
  r.model_type = e.config.model_type;
  r.weight_dtype = e.onnx_only.empty() ? to_string(e.encoder.embedding_dtype()) : "onnx";
  r.load_ms = ms_since(t_load);

  const auto t_infer = Clock::now();
  r.probe_text = expect.probe_text.empty() ? k_default_probe_text : expect.probe_text;
  auto first = e.run(r.probe_text, &r.token_ids);
  // An ONNX-only model whose export uses an op the interpreter lacks is unsupported, not broken.
  if (!first.ok() && !e.onnx_only.empty() && first.error().category == ErrorCategory::usage &&
      first.error().message.rfind("onnx:", 0) == 0)
    return unsupported_result(e.config, first.error().message);
  MB_ASSIGN(r.output, std::move(first));
  r.infer_ms = ms_since(t_infer);
  r.dimension = static_cast<int>(r.output.size());
  if (e.config.classifier) {
    r.output_kind = "logits";
    const auto best = std::max_element(r.output.begin(), r.output.end()) - r.output.begin();
    r.top_label = e.config.label(static_cast<size_t>(best));
  } else {
    r.output_kind = "embedding";
    r.normalized = e.pooling.normalize;
    for (const auto& m : e.pooling.modes) r.pooling += (r.pooling.empty() ? "" : "+") + m;
  }

  const int declared = e.config.classifier
                           ? e.config.num_labels
                           : e.config.hidden * static_cast<int>(e.pooling.modes.size());
  if (r.dimension != declared)
    r.expectation_failures.push_back(
        fmt::format("output has {} values, the model declares {}", r.dimension, declared));
  for (size_t i = 0; i < r.output.size(); ++i) {
    if (!std::isfinite(r.output[i])) {
      // {:f} keeps std::to_string's "%f" spelling ("nan", "-inf").
      r.expectation_failures.push_back(fmt::format(
          "output value {} is not finite ({:f}): the weights contain NaN/Inf or overflow", i,
          r.output[i]));
      break;
    }
  }
  if (e.onnx_only.empty()) {
    MB_TRY(compare_onnx(e, expect, r));
  } else {
    r.onnx_file = e.onnx_only;
    r.onnx_status = "ok";
    r.onnx_output = r.output;
  }
  auto embed = [&](const std::string& text) { return e.run(text, nullptr); };
  MB_TRY(check_expectations(expect, r, embed));
  return r;
}

}  // namespace mb::infer
