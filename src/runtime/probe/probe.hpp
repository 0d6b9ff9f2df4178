// Public entry point of the CPU inference engine used by `modelbake-verify --infer`.
// The caller (runtime/main.cpp) hands over one model directory (files may be symlinks into
// a hub cache) and, optionally, the model's `expect` block from the lock as JSON text.
// Everything else (tokenizer, weights, pooling, classification head) is read from the
// model's own files. See docs/inference.md for the supported architectures and the
// `expect` schema.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace mb::infer {

class ModelFiles;

struct ProbeResult {
  // Not a failure; the caller reports "inference: unsupported architecture X" (reason says X and
  // why). false: the architecture is not one we can run (BERT family, MPNet, Llama family).
  bool supported = false;
  std::string unsupported_reason;
  std::string architecture;  // config.json "architectures"[0], else model_type
  std::string
      model_type;  // bert | roberta | xlm-roberta | distilbert | mpnet | llama | qwen2 | mistral

  std::string probe_text;
  std::vector<int32_t> token_ids;  // including special tokens ([CLS]/[SEP], <s>/</s>)

  std::string output_kind;    // "embedding" (pooled sentence embedding) or "logits"
  std::vector<float> output;  // the pooled embedding or the classification logits
  int dimension = 0;          // output.size(); the embedding dimension or num_labels
  std::string pooling;        // "mean" | "cls" | "max" (embedding only)
  bool normalized = false;    // embedding was L2-normalised (modules.json Normalize)
  std::string top_label;      // logits only: id2label[argmax], else "LABEL_<i>"
  std::string weight_dtype;   // "F32" | "F16" | "BF16" (of the embedding matrix)

  // Decoder-only LLMs (output_kind "next_token_logits": output = logits after the prompt).
  std::vector<std::string> weight_types;  // distinct stored types of the matrices ("BF16", "Q4_K")
  std::vector<int32_t> generated_ids;     // greedy continuation of the probe prompt
  std::string generated_text;             // generated_ids decoded (special tokens skipped)
  double first_token_ms = 0;              // prompt forward pass, up to the first logits
  double tokens_per_s = 0;                // greedy steps after the first token
  uint64_t peak_rss_bytes = 0;            // the process's peak resident memory after the probe

  double load_ms = 0;   // tokenizer + config + mmap + weight conversion
  double infer_ms = 0;  // tokenize + forward + pooling/head of the probe text

  // The model's ONNX export (onnx/model.onnx or model.onnx), run on the same token ids:
  // "ok" | "unsupported: <reason>" | "" (none). Its output pooled like the safetensors output
  // and, when both ran, the largest elementwise difference (a mismatch above the tolerance of
  // expect.reference, default 1e-3, is an expectation failure).
  std::string onnx_file, onnx_status;
  std::vector<float> onnx_output;
  double onnx_max_abs_diff = -1;

  // Each failed expectation from `expect` in one precise line. Empty means all passed.
  // An output that is not finite or not of the declared dimension is reported here too.
  std::vector<std::string> expectation_failures;
};

// The text tokenised and run when no `expect.reference.text` says otherwise.
inline constexpr const char* k_default_probe_text =
    "modelbake verifies that this model loads and computes.";

// Runs the probe. Errors (Result failure) are reserved for broken model files: unreadable
// or inconsistent config/tokenizer/weights (category integrity or io) and a malformed
// `expect_json` (usage). An unsupported architecture is a successful result with
// supported == false. `expect_json` may be empty.
Result<ProbeResult> run_probe(const std::string& model_dir, const std::string& expect_json);
// The same, reading through `files` (modelbake-verify: confined to ROOT, unlocked files
// recorded as unverified).
Result<ProbeResult> run_probe(const ModelFiles& files, const std::string& expect_json);

// For bench/infer.sh: loads the model once, then times `runs` forward passes (tokenize +
// encoder + pooling/head) of `text`; returns the milliseconds of each run.
Result<std::vector<double>> time_forward(const std::string& model_dir, const std::string& text,
                                         int runs);

}  // namespace mb::infer
