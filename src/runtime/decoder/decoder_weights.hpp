// The weights of a decoder-only LLM (Llama family: Llama, Mistral, Qwen2) as the decoder
// consumes them, whatever file they came from. Large matrices stay in their stored type
// (F32/F16/BF16 in safetensors, F32/F16/Q8_0/Q4_0/Q4_K/Q6_K in GGUF, all memory-mapped) behind
// `Matrix`; the decoder only asks for a matrix-vector product or one dequantised row, so a
// quantised model is never expanded to F32 as a whole. Loaders: safetensors + config.json
// (decoder_safetensors.*), GGUF (decoder_gguf.*).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mb::infer {

// A 2-D weight [rows, cols] in the HF orientation: y = W x has `rows` outputs. Row r is the
// weights of output r (for an embedding table, the vector of token r).
class Matrix {
 public:
  virtual ~Matrix() = default;
  int64_t rows() const { return m_rows; }
  int64_t cols() const { return m_cols; }
  // The stored element type as users know it ("F16", "Q4_K", ...), for reports.
  virtual std::string type_name() const = 0;
  // out[cols] = row r, dequantised.
  virtual void row_f32(int64_t r, float* out) const = 0;
  // y[rows] = W x (x has cols elements). Implementations may use several threads.
  virtual void matvec(const float* x, float* y) const = 0;
  // Bytes of scratch memory the implementation allocates beyond the mapping (for the budget).
  virtual uint64_t scratch_bytes() const { return 0; }

 protected:
  Matrix(int64_t rows, int64_t cols) : m_rows(rows), m_cols(cols) {}

 private:
  int64_t m_rows;
  int64_t m_cols;
};

enum class RopeScaling { none, linear, llama3 };

struct DecoderConfig {
  std::string architecture;  // "LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"
  int n_layers = 0;
  int hidden = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;    // usually hidden / n_heads
  int intermediate = 0;
  int vocab = 0;
  int max_positions = 0;
  float rms_eps = 1e-6f;
  float rope_theta = 10000.0f;
  RopeScaling rope_scaling = RopeScaling::none;
  float rope_factor = 1.0f;  // linear / llama3
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  int rope_original_max_positions = 0;
  bool tied_embeddings = false;
  int bos_token = -1;
  int eos_token = -1;
};

struct DecoderLayer {
  std::unique_ptr<Matrix> q, k, v, o;  // rotary halves in HF order (rotate_half), see loaders
  std::vector<float> q_bias, k_bias, v_bias;  // Qwen2 only; empty otherwise
  std::unique_ptr<Matrix> gate, up, down;     // SwiGLU MLP
  std::vector<float> attn_norm, ffn_norm;     // RMSNorm weights [hidden]
};

struct DecoderWeights {
  DecoderConfig config;
  std::unique_ptr<Matrix> embed;    // [vocab, hidden]
  std::unique_ptr<Matrix> lm_head;  // [vocab, hidden]; null when tied to embed
  std::vector<float> final_norm;    // [hidden]
  std::vector<DecoderLayer> layers;
  const Matrix& output() const { return lm_head ? *lm_head : *embed; }
};

}  // namespace mb::infer
