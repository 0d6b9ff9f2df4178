// The result of one modelbake-verify run: one report per locked model, rendered for humans or
// as JSON (schema in docs/modelbake-verify.md; keep both in sync).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/root.hpp"

namespace mb::runtime {

struct ModelError {
  std::string check;    // integrity | structure | consistency | memory | weights | inference
  std::string message;  // one line, names the file
  std::string hint;
};

struct MemoryReport {
  uint64_t needed = 0;
  std::map<std::string, uint64_t> by_dtype;
  std::optional<uint64_t> available;
  std::optional<uint64_t> limit;  // --max-memory
  std::string available_source;
};

struct ProbeReport {
  std::string text;
  std::vector<int32_t> token_ids;
  std::string output_kind;  // embedding | logits | next_token_logits
  std::vector<float> output;
  std::string pooling;
  bool normalized = false;
  std::string top_label;
  // Decoder LLMs (output_kind next_token_logits; the logits are not printed, only checked).
  std::vector<std::string> weight_types;
  std::vector<int32_t> generated_ids;
  std::string generated_text;
  double first_token_ms = 0;
  double tokens_per_s = 0;
  uint64_t peak_memory_bytes = 0;
  // The ONNX export's run (empty file: none); max_abs_diff < 0 when not compared.
  std::string onnx_file, onnx_status;
  std::vector<float> onnx_output;
  double onnx_max_abs_diff = -1;
};

struct ModelReport {
  std::string name;
  std::string repo;
  std::string revision;
  std::string commit;
  std::string dir;
  bool ready = false;
  uint64_t files_checked = 0;  // files whose integrity was checked
  uint64_t bytes = 0;          // locked bytes of the model
  std::string weights_format;  // of the weights a loader would use; empty if none
  std::string architecture;
  double load_ms = 0;
  std::optional<double> infer_ms;
  std::optional<uint64_t> embedding_dimension;
  MemoryReport memory;
  std::string inference;  // "not requested", "ok", "unsupported architecture X", "failed"
  std::optional<ProbeReport> probe;
  std::vector<std::string> checked;           // consistency comparisons made
  std::vector<std::string> unchecked_files;   // integrity only: no structural reader applies
  std::vector<std::string> unverified_files;  // read by a fixed name but not in the lock
  std::optional<ModelError> error;            // the first failed check
};

struct RunReport {
  std::string root;
  RootKind kind = RootKind::flat_bundle;
  std::string lock_path;
  std::vector<ModelReport> models;
  bool all_ready() const;
};

nlohmann::ordered_json to_json(const RunReport& report);
std::string render_human(const RunReport& report);

}  // namespace mb::runtime
