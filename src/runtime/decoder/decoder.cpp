#include "runtime/decoder/decoder.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace mb::infer {

namespace {

void rms_norm(const float* x, const std::vector<float>& w, float eps, float* out) {
  const size_t n = w.size();
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  for (size_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * scale);
}

void add_bias(float* y, const std::vector<float>& b) {
  for (size_t i = 0; i < b.size(); ++i) y[i] += b[i];
}

size_t argmax(const std::vector<float>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

std::vector<float> rope_inv_freq(const DecoderConfig& c) {
  const int half = c.head_dim / 2;
  std::vector<float> f(static_cast<size_t>(half));
  constexpr double k_pi = 3.14159265358979323846;
  for (int i = 0; i < half; ++i) {
    double inv = 1.0 / std::pow(static_cast<double>(c.rope_theta), 2.0 * i / c.head_dim);
    if (c.rope_scaling == RopeScaling::linear) {
      inv /= c.rope_factor;
    } else if (c.rope_scaling == RopeScaling::llama3) {
      // transformers' _compute_llama3_parameters: long wavelengths are slowed by `factor`,
      // short ones kept, the band between interpolated smoothly.
      const double old = c.rope_original_max_positions;
      const double low_wl = old / c.rope_low_freq_factor, high_wl = old / c.rope_high_freq_factor;
      const double wl = 2 * k_pi / inv;
      if (wl > low_wl) {
        inv /= c.rope_factor;
      } else if (wl >= high_wl) {
        const double s = (old / wl - c.rope_low_freq_factor) /
                         (c.rope_high_freq_factor - c.rope_low_freq_factor);
        inv = (1 - s) * inv / c.rope_factor + s * inv;
      }
    }
    f[static_cast<size_t>(i)] = static_cast<float>(inv);
  }
  return f;
}

Decoder::Decoder(const DecoderWeights& w, int max_context) : m_w(w), m_max_context(max_context) {
  const DecoderConfig& c = w.config;
  const size_t kv = static_cast<size_t>(c.n_kv_heads) * c.head_dim;
  const size_t q = static_cast<size_t>(c.n_heads) * c.head_dim;
  m_inv_freq = rope_inv_freq(c);
  m_k.assign(static_cast<size_t>(c.n_layers) * max_context * kv, 0.0f);
  m_v.assign(m_k.size(), 0.0f);
  m_x.resize(c.hidden);
  m_xn.resize(c.hidden);
  m_out.resize(c.hidden);
  m_q.resize(q);
  m_att.resize(q);
  m_kt.resize(kv);
  m_vt.resize(kv);
  m_scores.resize(static_cast<size_t>(max_context));
  m_gate.resize(c.intermediate);
  m_up.resize(c.intermediate);
  m_cos.resize(m_inv_freq.size());
  m_sin.resize(m_inv_freq.size());
}

void Decoder::rope(float* v, int n_heads) const {
  const int hd = m_w.config.head_dim, half = hd / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* x = v + static_cast<size_t>(h) * hd;
    for (int i = 0; i < half; ++i) {  // rotate_half: pairs (i, i + half)
      const float a = x[i], b = x[i + half];
      x[i] = a * m_cos[i] - b * m_sin[i];
      x[i + half] = b * m_cos[i] + a * m_sin[i];
    }
  }
}

void Decoder::attention(size_t layer, const float* xn, float* out) {
  const DecoderConfig& c = m_w.config;
  const DecoderLayer& L = m_w.layers[layer];
  const int hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const size_t kv = static_cast<size_t>(c.n_kv_heads) * hd;
  L.q->matvec(xn, m_q.data());
  L.k->matvec(xn, m_kt.data());
  L.v->matvec(xn, m_vt.data());
  add_bias(m_q.data(), L.q_bias);
  add_bias(m_kt.data(), L.k_bias);
  add_bias(m_vt.data(), L.v_bias);
  rope(m_q.data(), c.n_heads);
  rope(m_kt.data(), c.n_kv_heads);
  float* kc = m_k.data() + layer * m_max_context * kv;
  float* vc = m_v.data() + layer * m_max_context * kv;
  std::copy(m_kt.begin(), m_kt.end(), kc + static_cast<size_t>(m_pos) * kv);
  std::copy(m_vt.begin(), m_vt.end(), vc + static_cast<size_t>(m_pos) * kv);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int t = m_pos + 1;  // causal: this position attends to itself and all before it
  for (int h = 0; h < c.n_heads; ++h) {
    const float* q = m_q.data() + static_cast<size_t>(h) * hd;
    const size_t off = static_cast<size_t>(h / group) * hd;
    float mx = -INFINITY;
    for (int p = 0; p < t; ++p) {
      const float* k = kc + static_cast<size_t>(p) * kv + off;
      float s = 0;
      for (int i = 0; i < hd; ++i) s += q[i] * k[i];
      m_scores[p] = s * scale;
      mx = std::max(mx, m_scores[p]);
    }
    double sum = 0;
    for (int p = 0; p < t; ++p) sum += (m_scores[p] = std::exp(m_scores[p] - mx));
    float* a = m_att.data() + static_cast<size_t>(h) * hd;
    std::fill(a, a + hd, 0.0f);
    for (int p = 0; p < t; ++p) {
      const float wgt = static_cast<float>(m_scores[p] / sum);
      const float* v = vc + static_cast<size_t>(p) * kv + off;
      for (int i = 0; i < hd; ++i) a[i] += wgt * v[i];
    }
  }
  L.o->matvec(m_att.data(), out);
}

void Decoder::step(int32_t id, float* logits) {
  const DecoderConfig& c = m_w.config;
  m_w.embed->row_f32(id, m_x.data());
  for (size_t i = 0; i < m_inv_freq.size(); ++i) {
    const float angle = static_cast<float>(m_pos) * m_inv_freq[i];
    m_cos[i] = std::cos(angle);
    m_sin[i] = std::sin(angle);
  }
  for (size_t l = 0; l < m_w.layers.size(); ++l) {
    const DecoderLayer& L = m_w.layers[l];
    rms_norm(m_x.data(), L.attn_norm, c.rms_eps, m_xn.data());
    attention(l, m_xn.data(), m_out.data());
    for (int i = 0; i < c.hidden; ++i) m_x[i] += m_out[i];
    rms_norm(m_x.data(), L.ffn_norm, c.rms_eps, m_xn.data());
    L.gate->matvec(m_xn.data(), m_gate.data());
    L.up->matvec(m_xn.data(), m_up.data());
    for (int i = 0; i < c.intermediate; ++i) {
      const float g = m_gate[i];
      m_gate[i] = g / (1.0f + std::exp(-g)) * m_up[i];  // SiLU(gate) * up
    }
    L.down->matvec(m_gate.data(), m_out.data());
    for (int i = 0; i < c.hidden; ++i) m_x[i] += m_out[i];
  }
  ++m_pos;
  if (logits == nullptr) return;
  rms_norm(m_x.data(), m_w.final_norm, c.rms_eps, m_xn.data());
  m_w.output().matvec(m_xn.data(), logits);
}

Result<std::vector<float>> Decoder::feed(const std::vector<int32_t>& ids) {
  const DecoderConfig& c = m_w.config;
  if (ids.empty()) return fail(ErrorCategory::usage, "no tokens to feed the decoder");
  if (m_pos + static_cast<int64_t>(ids.size()) > m_max_context)
    return fail(ErrorCategory::usage, "the sequence would grow past the decoder's context of " +
                                          std::to_string(m_max_context) + " tokens");
  for (int32_t id : ids)
    if (id < 0 || id >= c.vocab)
      return fail(ErrorCategory::integrity,
                  "token id " + std::to_string(id) + " is outside the embedding matrix (" +
                      std::to_string(c.vocab) + " rows)",
                  "tokenizer.json does not belong to these weights");
  std::vector<float> logits(static_cast<size_t>(c.vocab));
  for (size_t i = 0; i < ids.size(); ++i)
    step(ids[i], i + 1 == ids.size() ? logits.data() : nullptr);
  return logits;
}

Result<Generation> generate_greedy(Decoder& d, const std::vector<int32_t>& prompt, int n, int eos) {
  using Clock = std::chrono::steady_clock;
  auto finite = [](const std::vector<float>& v, int step) -> Status {
    for (size_t i = 0; i < v.size(); ++i)
      if (!std::isfinite(v[i]))
        return fail(ErrorCategory::integrity,
                    "logit " + std::to_string(i) + " after " + std::to_string(step) +
                        " generated tokens is not finite",
                    "the weights contain NaN/Inf or overflow");
    return {};
  };
  Generation g;
  const auto t0 = Clock::now();
  MB_ASSIGN(std::vector<float> logits, d.feed(prompt));
  g.first_token_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  MB_TRY(finite(logits, 0));
  g.first_logits = logits;
  const auto t1 = Clock::now();
  for (int i = 0; i < n; ++i) {
    const auto next = static_cast<int32_t>(argmax(logits));
    g.ids.push_back(next);
    if (next == eos || i + 1 == n) break;
    MB_ASSIGN(logits, d.feed({next}));
    MB_TRY(finite(logits, i + 1));
  }
  const double s = std::chrono::duration<double>(Clock::now() - t1).count();
  if (g.ids.size() > 1 && s > 0) g.tokens_per_s = static_cast<double>(g.ids.size() - 1) / s;
  return g;
}

}  // namespace mb::infer
