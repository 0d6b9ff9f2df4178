// modelbake-verify --infer on the ONNX export of a BERT-family model (optimum's
// onnx/model.onnx, or model.onnx beside the weights): the graph runs on the probe's token ids
// and its first output (last_hidden_state [1, T, H] or logits [1, N]) is reported; the
// caller pools it like the safetensors output and compares the two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace mb::infer {

class ModelFiles;

// The ONNX file of a model folder: the first of onnx/model.onnx, model.onnx that the lock
// lists (a planted file is never run); "" when none.
std::string onnx_model_file(const ModelFiles& files);

struct OnnxOutput {
  std::string name;            // the graph output
  std::vector<int64_t> shape;  // [1, T, H] or [1, N]
  std::vector<float> values;
};

// Runs `rel` on `ids` (attention_mask ones, token_type_ids zeros, as the graph declares them).
// Errors: usage for an op or input the interpreter does not support (the caller reports it
// unsupported), integrity for a malformed graph or external data outside its file.
Result<OnnxOutput> run_onnx(const ModelFiles& files, const std::string& rel,
                            const std::vector<int32_t>& ids);

// For bench/infer.sh: loads once, runs `runs` times; milliseconds of each run.
Result<std::vector<double>> time_onnx(const std::string& model_file,
                                      const std::vector<int32_t>& ids, int runs);

}  // namespace mb::infer
