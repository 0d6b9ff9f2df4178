// BERT-family encoder (bert, roberta, xlm-roberta, distilbert, mpnet) on the CPU, post-norm
// layers as in the original BERT: embeddings + LayerNorm, then per layer self-attention,
// dense + residual + LayerNorm, intermediate activation, dense + residual + LayerNorm.
// MPNet adds a T5-style relative position bias to every layer's attention scores.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/kernels/kernels.hpp"
#include "runtime/model/weights.hpp"

namespace mb::infer {

enum class Family { bert, roberta, distilbert, mpnet };

struct EncoderConfig {
  std::string model_type;
  std::string architecture;
  Family family = Family::bert;
  int vocab_size = 0;
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int intermediate = 0;
  int max_positions = 0;
  int position_offset = 0;   // RoBERTa, MPNet: position ids start at padding_idx + 1
  int relative_buckets = 0;  // MPNet: rows of encoder.relative_attention_bias
  float eps = 1e-12f;
  std::string activation = "gelu";
  bool classifier = false;  // *ForSequenceClassification
  int num_labels = 0;
  // config.json's id2label entries only (never num_labels of them: num_labels is bounded by
  // the classifier weights, checked at load, not here).
  std::vector<std::string> id2label;
  std::string label(size_t i) const {
    return i < id2label.size() && !id2label[i].empty() ? id2label[i] : "LABEL_" + std::to_string(i);
  }
};

// Parses config.json. Returns supported == false via `unsupported` (with the reason) for
// architectures that are not BERT-family encoders; an error only for a malformed config.
Result<EncoderConfig> parse_encoder_config(const std::string& config_json,
                                           std::string* unsupported);

// MPNet's (T5's) bidirectional bucket of key position - query position: 32 buckets, half per
// direction, exact below 8, log-spaced up to max_distance 128, as transformers computes it.
int relative_position_bucket(int relative_position);
inline constexpr int k_mpnet_buckets = 32;  // transformers' compute_position_bias default

class Encoder {
 public:
  static Result<Encoder> load(const Weights& weights, const EncoderConfig& config);

  // Last hidden states, [ids.size() x hidden] row-major.
  std::vector<float> forward(const std::vector<int32_t>& ids) const;
  // Sequence-classification logits from the hidden states (first token).
  std::vector<float> classify(const std::vector<float>& hidden) const;

  const EncoderConfig& config() const { return m_cfg; }
  DType embedding_dtype() const { return m_word ? m_word->dtype : DType::other; }

 private:
  struct TensorNames;  // encoder.cpp
  Status load_tensors(const TensorNames& nm, const TensorNames& head);
  struct Layer {
    PackedLinear qkv, attn_out, inter, out;
    std::vector<float> ln1_g, ln1_b, ln2_g, ln2_b;
  };
  // `bias`: position_bias(t), or nullptr.
  void attention(const float* qkv, int t, const float* bias, float* ctx) const;
  // MPNet: [heads][2t-1] bias by relative position (j - i + t - 1); empty otherwise.
  std::vector<float> position_bias(int t) const;

  EncoderConfig m_cfg;
  Arena m_arena;  // packed weights of all layers and the head
  const Weights* m_weights = nullptr;
  const TensorView* m_word = nullptr;
  const TensorView* m_pos = nullptr;
  const TensorView* m_type = nullptr;  // absent for DistilBERT and MPNet
  std::vector<float> m_rel_bias;       // MPNet: [buckets, heads], shared by all layers
  std::vector<float> m_emb_g, m_emb_b;
  std::vector<Layer> m_layers;
  // Classification head: BERT pooler(dense+tanh)+classifier, RoBERTa dense+tanh+out_proj,
  // DistilBERT pre_classifier+ReLU+classifier. `m_head_act` is "tanh" or "relu".
  PackedLinear m_head_dense, m_head_out;
  std::string m_head_act;
};

}  // namespace mb::infer
