// Check 2 of modelbake-verify: the structure of every file of one model, with the bounded
// format readers. The scan also collects what checks 3-5 need: the tensors of the weights a
// loader would use, and the parsed JSON files.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "runtime/formats/tensors.hpp"
#include "runtime/model/model_files.hpp"

namespace mb::runtime {

struct WeightFile {
  std::string path;                 // repo-relative
  std::string format;               // safetensors | pytorch | gguf | onnx
  std::vector<TensorInfo> tensors;  // empty for pytorch (shapes live in the pickle)
  uint64_t tensor_bytes = 0;
  std::map<std::string, std::string> gguf_metadata;
};

struct ModelScan {
  std::vector<WeightFile> weights;
  std::map<std::string, nlohmann::json> json;  // repo-relative path -> parsed document
  uint64_t files_checked = 0;                  // files whose structure was checked
  std::vector<std::string> unchecked;          // files no reader applies to (integrity only)

  // The weights a loader would use: root-level safetensors (all shards), else root-level
  // PyTorch checkpoints, else the largest GGUF file, else the largest ONNX model.
  std::vector<const WeightFile*> primary() const;
  const nlohmann::json* find_json(const std::string& path) const;
};

// `files` is the model folder (a snapshot or a flat bundle folder). Errors are integrity
// failures naming the file. The `dir` overloads read unconfined (tests).
Result<ModelScan> scan_model(const infer::ModelFiles& files, const LockedModel& model);
Result<ModelScan> scan_model(const std::string& dir, const LockedModel& model);

enum class FiniteScan { sampled, full };
// Checks that F32/F16/BF16 tensors of the safetensors weights hold no NaN or Inf: every
// element (full) or the first and last 256 of each tensor (sampled, a few pages per tensor).
Status check_finite(const infer::ModelFiles& files, const ModelScan& scan, FiniteScan mode);
Status check_finite(const std::string& dir, const ModelScan& scan, FiniteScan mode);

}  // namespace mb::runtime
