// Check 3 of modelbake-verify: the model's files agree with each other. config.json against
// the weights' shapes (vocab_size, hidden_size, num_hidden_layers, intermediate_size, under the
// names BERT/RoBERTa/XLM-R/DistilBERT/GPT-style configs use), GGUF metadata against its own
// tensors, the safetensors index against its shards, the tokenizer's ids against the
// embedding rows, and sentence-transformers modules (Pooling, Dense) against the model.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/model_scan.hpp"

namespace mb::runtime {

struct ConsistencyResult {
  std::string architecture;  // config.json architectures[0], else model_type
  std::string model_type;
  std::optional<uint64_t> hidden_size;          // columns of the embedding matrix, else config
  std::optional<uint64_t> embedding_dimension;  // after Pooling/Dense modules
  std::vector<std::string> checked;             // what was compared, for the report
};

// `dir` is the model folder (module folders are looked up there).
Result<ConsistencyResult> check_consistency(const std::string& dir, const ModelScan& scan);

// Layer index in a tensor name ("bert.encoder.layer.11.attention..." -> 11) and the prefix
// before it ("bert.encoder.layer."); nullopt when the name has no layer component.
struct LayerRef {
  std::string prefix;
  uint64_t index = 0;
};
std::optional<LayerRef> layer_of(const std::string& tensor_name);

}  // namespace mb::runtime
