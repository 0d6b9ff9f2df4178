#include "runtime/report.hpp"

#include <cmath>
#include <cstdio>

#include "runtime/memory.hpp"

namespace mb::runtime {

using nlohmann::ordered_json;

bool RunReport::all_ready() const {
  for (const auto& m : models) {
    if (!m.ready) return false;
  }
  return true;
}

namespace {

template <class T>
ordered_json opt(const std::optional<T>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

double round_ms(double ms) { return std::round(ms * 1000.0) / 1000.0; }

ordered_json finite_or_null(const std::vector<float>& values) {
  ordered_json out = ordered_json::array();
  for (float v : values) out.push_back(std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr));
  return out;
}

ordered_json model_json(const ModelReport& m) {
  ordered_json j;
  j["name"] = m.name;
  j["repo"] = m.repo;
  j["revision"] = m.revision;
  j["commit"] = m.commit;
  j["path"] = m.dir;
  j["status"] = m.ready ? "ready" : "failed";
  j["files_checked"] = m.files_checked;
  j["bytes"] = m.bytes;
  j["weights_format"] =
      m.weights_format.empty() ? ordered_json(nullptr) : ordered_json(m.weights_format);
  j["architecture"] = m.architecture.empty() ? ordered_json(nullptr) : ordered_json(m.architecture);
  j["load_ms"] = round_ms(m.load_ms);
  j["infer_ms"] = m.infer_ms ? ordered_json(round_ms(*m.infer_ms)) : ordered_json(nullptr);
  j["embedding_dimension"] = opt(m.embedding_dimension);
  j["device"] = "cpu";
  ordered_json mem;
  mem["needed"] = m.memory.needed;
  mem["by_dtype"] = ordered_json::object();
  for (const auto& [dtype, n] : m.memory.by_dtype) mem["by_dtype"][dtype] = n;
  mem["available"] = opt(m.memory.available);
  mem["available_source"] = m.memory.available_source;
  mem["limit"] = opt(m.memory.limit);
  j["memory"] = mem;
  j["inference"] = m.inference;
  if (m.probe) {
    ordered_json p;
    p["text"] = m.probe->text;
    p["token_ids"] = m.probe->token_ids;
    p["output_kind"] = m.probe->output_kind;
    if (m.probe->output_kind == "next_token_logits") {
      // A vocabulary of logits is noise in a report; the greedy continuation says more.
      p["weight_types"] = m.probe->weight_types;
      p["generated_ids"] = m.probe->generated_ids;
      p["generated_text"] = m.probe->generated_text;
      p["first_token_ms"] = round_ms(m.probe->first_token_ms);
      p["tokens_per_s"] = std::round(m.probe->tokens_per_s * 10.0) / 10.0;
      p["peak_memory_bytes"] = m.probe->peak_memory_bytes;
    } else {
      p["output"] = finite_or_null(m.probe->output);
    }
    if (!m.probe->pooling.empty()) p["pooling"] = m.probe->pooling;
    p["normalized"] = m.probe->normalized;
    if (!m.probe->top_label.empty()) p["top_label"] = m.probe->top_label;
    if (!m.probe->onnx_file.empty()) {
      ordered_json o;
      o["file"] = m.probe->onnx_file;
      o["status"] = m.probe->onnx_status;
      o["output"] = finite_or_null(m.probe->onnx_output);
      o["max_abs_diff"] = m.probe->onnx_max_abs_diff >= 0 ? ordered_json(m.probe->onnx_max_abs_diff)
                                                          : ordered_json(nullptr);
      p["onnx"] = o;
    } else {
      p["onnx"] = nullptr;
    }
    j["probe"] = p;
  } else {
    j["probe"] = nullptr;
  }
  j["checked"] = m.checked;
  j["unchecked_files"] = m.unchecked_files;
  j["unverified_files"] = m.unverified_files;
  if (m.error) {
    j["error"] = {
        {"check", m.error->check}, {"message", m.error->message}, {"hint", m.error->hint}};
  } else {
    j["error"] = nullptr;
  }
  return j;
}

std::string fmt_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  return buf;
}

}  // namespace

ordered_json to_json(const RunReport& r) {
  ordered_json j;
  j["version"] = 1;
  j["root"] = r.root;
  j["layout"] =
      r.kind == RootKind::flat_bundle ? "flat" : (r.kind == RootKind::hub_bundle ? "hub" : "cache");
  j["lock"] = r.lock_path;
  j["status"] = r.all_ready() ? "ready" : "failed";
  j["models"] = ordered_json::array();
  for (const auto& m : r.models) j["models"].push_back(model_json(m));
  return j;
}

std::string render_human(const RunReport& r) {
  std::string out =
      "modelbake-verify: " + r.root + " (" + to_string(r.kind) + ", lock " + r.lock_path + ")\n";
  size_t ready = 0;
  for (const auto& m : r.models) {
    ready += m.ready ? 1 : 0;
    out += "  " + m.name + "  " + m.repo + "@" + m.commit.substr(0, 12) + "  " +
           (m.ready ? "ready" : "FAILED") + "\n";
    out += "    " + std::to_string(m.files_checked) + " files, " + format_size(m.bytes);
    if (!m.weights_format.empty()) out += ", " + m.weights_format + " weights";
    out += ", load " + fmt_ms(m.load_ms);
    if (m.infer_ms) out += ", infer " + fmt_ms(*m.infer_ms);
    if (m.embedding_dimension) out += ", dim " + std::to_string(*m.embedding_dimension);
    out += ", cpu\n";
    out += "    memory: " + format_size(m.memory.needed) + " needed";
    if (m.memory.available) out += ", " + format_size(*m.memory.available) + " available";
    if (m.memory.limit) out += ", limit " + format_size(*m.memory.limit);
    out += "\n";
    out += "    inference: " + m.inference;
    if (m.probe && !m.probe->top_label.empty()) out += " (top label " + m.probe->top_label + ")";
    if (m.probe && m.probe->output_kind == "next_token_logits") {
      char buf[96];
      std::snprintf(buf, sizeof buf, " (%zu tokens generated, first token %.1f ms, %.1f tokens/s)",
                    m.probe->generated_ids.size(), m.probe->first_token_ms, m.probe->tokens_per_s);
      out += buf;
    }
    out += "\n";
    if (!m.unverified_files.empty()) {
      out += "    unverified (not in the lock):";
      for (size_t i = 0; i < m.unverified_files.size(); ++i)
        out += (i ? ", " : " ") + m.unverified_files[i];
      out += "\n";
    }
    if (m.error) {
      out += "    error: " + m.error->check + ": " + m.error->message + "\n";
      if (!m.error->hint.empty()) out += "    fix: " + m.error->hint + "\n";
    }
  }
  out += std::to_string(ready) + " of " + std::to_string(r.models.size()) + " models ready\n";
  return out;
}

}  // namespace mb::runtime
