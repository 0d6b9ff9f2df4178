// The decoder-only transformer of the Llama family (Llama, Mistral, Qwen2) over
// DecoderWeights from any loader: RMSNorm, rotary embeddings (HF rotate_half convention;
// linear and llama3 scaling), grouped-query attention with a KV cache, SwiGLU MLP, final
// norm, logits. Tokens are fed one at a time through Matrix::matvec, which is all a smoke
// test of a few dozen tokens needs and keeps quantised matrices quantised.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "runtime/decoder/decoder_weights.hpp"

namespace mb::infer {

class Decoder {
 public:
  // `w` must outlive the decoder. The KV cache holds `max_context` positions (allocated here;
  // decoder_runtime_bytes() is what the memory budget counts for it).
  Decoder(const DecoderWeights& w, int max_context);

  // Appends `ids` to the sequence and returns the logits [vocab] after the last of them.
  // Fails (usage) when the context would overflow, (integrity) on an id outside the vocab.
  Result<std::vector<float>> feed(const std::vector<int32_t>& ids);
  int position() const { return m_pos; }
  void reset() { m_pos = 0; }

 private:
  void step(int32_t id, float* logits);
  void attention(size_t layer, const float* xn, float* out);
  void rope(float* v, int n_heads) const;

  const DecoderWeights& m_w;
  int m_max_context;
  int m_pos = 0;
  std::vector<float> m_inv_freq;  // [head_dim / 2]
  std::vector<float> m_k, m_v;    // [layer][position][n_kv * head_dim]
  std::vector<float> m_x, m_xn, m_q, m_kt, m_vt, m_att, m_scores, m_gate, m_up, m_out;
  std::vector<float> m_cos, m_sin;  // of the current position
};

// The rotary inverse frequencies of `c`, scaling applied (exposed for tests).
std::vector<float> rope_inv_freq(const DecoderConfig& c);

// Greedy decoding: feeds the prompt, then `n` argmax tokens (stopping after eos). `first`
// receives the logits after the prompt. Fails when any logit is not finite.
struct Generation {
  std::vector<float> first_logits;
  std::vector<int32_t> ids;
  double first_token_ms = 0;
  double tokens_per_s = 0;  // generated tokens after the first, per second
};
Result<Generation> generate_greedy(Decoder& d, const std::vector<int32_t>& prompt, int n, int eos);

}  // namespace mb::infer
