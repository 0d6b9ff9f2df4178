#include "runtime/decoder/decoder_safetensors.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "runtime/formats/json_fields.hpp"
#include "runtime/kernels/parallel.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define MB_X86 1
#endif

namespace mb::infer {

namespace {

using nlohmann::json;

// ---- Matrix over a mapped tensor --------------------------------------------------------

inline float load_elem(DType d, const uint8_t* p, int64_t i) {
  if (d == DType::f32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return d == DType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
}

float dot_portable(DType d, const uint8_t* row, const float* x, int64_t n) {
  float acc[8] = {};
  int64_t i = 0;
  if (d == DType::f32) {
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += load_elem(d, row, i + j) * x[i + j];
  }
  float s = 0;
  for (; i < n; ++i) s += load_elem(d, row, i) * x[i];
  for (float a : acc) s += a;
  return s;
}

#ifdef MB_X86
__attribute__((target("avx2,fma,f16c"))) float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

__attribute__((target("avx2,fma,f16c"))) inline __m256 load8(DType d, const uint8_t* p) {
  if (d == DType::f32) return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if (d == DType::f16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

__attribute__((target("avx2,fma,f16c"))) float dot_avx2(DType d, const uint8_t* row, const float* x,
                                                        int64_t n) {
  const int64_t es = d == DType::f32 ? 4 : 2;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(load8(d, row + i * es), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load8(d, row + (i + 8) * es), _mm256_loadu_ps(x + i + 8), a1);
  }
  for (; i + 8 <= n; i += 8)
    a0 = _mm256_fmadd_ps(load8(d, row + i * es), _mm256_loadu_ps(x + i), a0);
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) s += load_elem(d, row, i) * x[i];
  return s;
}
#endif

using DotFn = float (*)(DType, const uint8_t*, const float*, int64_t);

#ifdef MB_X86
// CPUID.1:ECX bit 29. Asked directly: clang 14 (the fuzz build) has no "f16c" feature string
// for __builtin_cpu_supports.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}
#endif

DotFn pick_dot() {
#ifdef MB_X86
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c())
    return dot_avx2;
#endif
  return dot_portable;
}

class TensorMatrix final : public Matrix {
 public:
  TensorMatrix(const TensorView& t)
      : Matrix(t.shape[0], t.shape[1]), m_data(t.data), m_dtype(t.dtype), m_name(t.dtype_name) {}
  std::string type_name() const override { return m_name; }
  void row_f32(int64_t r, float* out) const override {
    const uint8_t* row = m_data + static_cast<uint64_t>(r * cols()) * elem();
    for (int64_t i = 0; i < cols(); ++i) out[i] = load_elem(m_dtype, row, i);
  }
  void matvec(const float* x, float* y) const override {
    static const DotFn dot = pick_dot();
    const uint64_t stride = static_cast<uint64_t>(cols()) * elem();
    parallel_rows(rows(), cols(), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r)
        y[r] = dot(m_dtype, m_data + static_cast<uint64_t>(r) * stride, x, cols());
    });
  }

 private:
  uint64_t elem() const { return m_dtype == DType::f32 ? 4 : 2; }
  const uint8_t* m_data;
  DType m_dtype;
  std::string m_name;
};

// ---- config.json ------------------------------------------------------------------------

Error bad_config(const std::string& what) {
  return make_error(ErrorCategory::integrity, "config.json: " + what,
                    "the model configuration is malformed or does not belong to these weights");
}

Error unsupported(const std::string& what) {
  return make_error(ErrorCategory::usage, what,
                    "docs/inference.md lists what the decoder supports");
}

// A positive integer no larger than `max` (bounds keep hostile configs from sizing buffers).
Result<int> int_field(const json& j, const char* key, int64_t max,
                      std::optional<int> fallback = std::nullopt) {
  if (!j.contains(key) || j[key].is_null()) {
    if (fallback) return *fallback;
    return bad_config(std::string("missing ") + key);
  }
  if (!j[key].is_number_integer()) return bad_config(std::string(key) + " is not an integer");
  const int64_t v = j[key].get<int64_t>();
  if (v <= 0 || v > max) return bad_config(fmt::format("{} = {} is outside 1..{}", key, v, max));
  return static_cast<int>(v);
}

Result<float> float_field(const json& j, const char* key, float fallback, float lo, float hi) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number()) return bad_config(std::string(key) + " is not a number");
  const double v = j[key].get<double>();
  if (!(v > lo && v <= hi))
    return bad_config(fmt::format("{} = {:f} is out of range", key, v));  // {:f}: to_string's "%f"
  return static_cast<float>(v);
}

int token_id(const json& j, const char* key) {
  if (!j.contains(key)) return -1;
  const json& v = j[key].is_array() && !j[key].empty() ? j[key][0] : j[key];
  return v.is_number_integer() ? v.get<int>() : -1;
}

Status parse_rope_scaling(const json& j, DecoderConfig& c) {
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return {};
  const json& s = j["rope_scaling"];
  if (!s.is_object()) return bad_config("rope_scaling is not an object");
  MB_ASSIGN(const std::string old_type, string_field(s, "type", "", "config.json rope_scaling"));
  MB_ASSIGN(const std::string type,
            string_field(s, "rope_type", old_type, "config.json rope_scaling"));
  if (type == "default") return {};
  if (type != "linear" && type != "llama3")
    return unsupported("rope_scaling type \"" + type +
                       "\" is not supported (only linear and llama3)");
  MB_ASSIGN(c.rope_factor, float_field(s, "factor", -1.0f, 0.0f, 1e6f));
  if (c.rope_factor < 0) return bad_config("rope_scaling has no factor");
  c.rope_scaling = type == "linear" ? RopeScaling::linear : RopeScaling::llama3;
  if (c.rope_scaling == RopeScaling::llama3) {
    MB_ASSIGN(c.rope_low_freq_factor, float_field(s, "low_freq_factor", 1.0f, 0.0f, 1e6f));
    MB_ASSIGN(c.rope_high_freq_factor, float_field(s, "high_freq_factor", 4.0f, 0.0f, 1e6f));
    MB_ASSIGN(c.rope_original_max_positions,
              int_field(s, "original_max_position_embeddings", 1 << 24, 8192));
    if (c.rope_high_freq_factor <= c.rope_low_freq_factor)
      return bad_config("rope_scaling high_freq_factor must exceed low_freq_factor");
  }
  return {};
}

}  // namespace

bool is_decoder_architecture(const std::string& a) {
  return a == "LlamaForCausalLM" || a == "Qwen2ForCausalLM" || a == "MistralForCausalLM";
}

Result<DecoderConfig> parse_decoder_config(const std::string& text) {
  const json j = parse_json(text);
  if (!j.is_object()) return bad_config("not a JSON object");
  DecoderConfig c;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    c.architecture = j["architectures"][0].get<std::string>();
  if (!is_decoder_architecture(c.architecture))
    return unsupported("not a decoder-only architecture: " + c.architecture);
  MB_ASSIGN(const std::string act, string_field(j, "hidden_act", "silu", "config.json"));
  if (act != "silu") return unsupported("hidden_act \"" + act + "\" is not supported (only silu)");
  MB_ASSIGN(const bool attention_bias, bool_field(j, "attention_bias", false, "config.json"));
  MB_ASSIGN(const bool mlp_bias, bool_field(j, "mlp_bias", false, "config.json"));
  if (attention_bias || mlp_bias) return unsupported("attention_bias / mlp_bias are not supported");
  MB_ASSIGN(c.n_layers, int_field(j, "num_hidden_layers", 1024));
  MB_ASSIGN(c.hidden, int_field(j, "hidden_size", 1 << 16));
  MB_ASSIGN(c.n_heads, int_field(j, "num_attention_heads", 1024));
  MB_ASSIGN(c.n_kv_heads, int_field(j, "num_key_value_heads", 1024, c.n_heads));
  MB_ASSIGN(c.head_dim,
            int_field(j, "head_dim", 4096, c.hidden / c.n_heads > 0 ? c.hidden / c.n_heads : 1));
  MB_ASSIGN(c.intermediate, int_field(j, "intermediate_size", 1 << 20));
  MB_ASSIGN(c.vocab, int_field(j, "vocab_size", 1 << 22));
  MB_ASSIGN(c.max_positions, int_field(j, "max_position_embeddings", 1 << 24, 2048));
  MB_ASSIGN(c.rms_eps, float_field(j, "rms_norm_eps", 1e-6f, 0.0f, 1.0f));
  MB_ASSIGN(c.rope_theta, float_field(j, "rope_theta", 10000.0f, 0.0f, 1e12f));
  if (c.n_heads % c.n_kv_heads != 0)
    return bad_config(
        fmt::format("num_attention_heads {} is not a multiple of num_key_value_heads {}", c.n_heads,
                    c.n_kv_heads));
  if (c.head_dim % 2 != 0)
    return bad_config("head_dim " + std::to_string(c.head_dim) + " is odd (rotary needs pairs)");
  if (!j.contains("head_dim") && c.hidden % c.n_heads != 0)
    return bad_config(
        "hidden_size is not a multiple of num_attention_heads and head_dim is not given");
  // Real models keep n_heads x head_dim within 2x hidden_size; the bound keeps a hostile config
  // from sizing a KV cache far beyond its tensors.
  if (static_cast<int64_t>(c.n_heads) * c.head_dim > 16ll * c.hidden)
    return bad_config(
        fmt::format("num_attention_heads x head_dim ({}) is absurd for hidden_size {}",
                    static_cast<int64_t>(c.n_heads) * c.head_dim, c.hidden));
  MB_TRY(parse_rope_scaling(j, c));
  // Sliding-window attention only differs from full attention past the window; the probe's
  // context (<= 512 positions) stays inside any real window (Mistral 4096, Qwen2 >= 32768).
  MB_ASSIGN(const bool sliding, bool_field(j, "use_sliding_window",
                                           c.architecture == "MistralForCausalLM", "config.json"));
  if (sliding && j.contains("sliding_window") && j["sliding_window"].is_number_integer() &&
      j["sliding_window"].get<int64_t>() < 512)
    return unsupported("sliding_window " + std::to_string(j["sliding_window"].get<int64_t>()) +
                       " is shorter than the probe's context (512)");
  MB_ASSIGN(c.tied_embeddings, bool_field(j, "tie_word_embeddings", false, "config.json"));
  c.bos_token = token_id(j, "bos_token_id");
  c.eos_token = token_id(j, "eos_token_id");
  return c;
}

uint64_t decoder_runtime_bytes(const DecoderConfig& c, int context) {
  const uint64_t kv =
      2ull * c.n_layers * c.n_kv_heads * c.head_dim * static_cast<uint64_t>(context);
  const uint64_t act = 4ull * c.hidden + 3ull * c.n_heads * c.head_dim + 3ull * c.intermediate +
                       static_cast<uint64_t>(c.n_heads) * context;
  const uint64_t norms =
      (2ull * c.n_layers + 1) * c.hidden + 3ull * c.n_layers * c.n_heads * c.head_dim;
  return 4ull * (kv + act + norms + 2ull * c.vocab);
}

Result<std::unique_ptr<Matrix>> make_tensor_matrix(const TensorView& t) {
  if (t.dtype == DType::other)
    return fail(ErrorCategory::integrity, "tensor '" + t.name + "' has dtype " + t.dtype_name,
                "the decoder reads F32, F16 or BF16 safetensors weights");
  if (t.shape.size() != 2)
    return fail(ErrorCategory::integrity, "tensor '" + t.name + "' is not 2-D");
  return std::unique_ptr<Matrix>(std::make_unique<TensorMatrix>(t));
}

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct Loader {
  const Weights& w;
  const DecoderConfig& c;

  Result<const TensorView*> get(const std::string& name, std::vector<int64_t> shape) const {
    const TensorView* t = w.find(name);
    if (t == nullptr)
      return fail(ErrorCategory::integrity, "weights have no tensor '" + name + "'",
                  "the weights are incomplete or do not match config.json");
    if (t->shape != shape)
      return fail(ErrorCategory::integrity,
                  "tensor '" + name + "' has shape " + shape_str(t->shape) +
                      " but config.json implies " + shape_str(shape),
                  "the weights do not match config.json");
    if (t->dtype == DType::other)
      return fail(ErrorCategory::integrity, "tensor '" + name + "' has dtype " + t->dtype_name,
                  "the decoder reads F32, F16 or BF16 safetensors weights");
    return t;
  }
  Result<std::unique_ptr<Matrix>> matrix(const std::string& name, int64_t rows,
                                         int64_t cols) const {
    MB_ASSIGN(const TensorView* t, get(name, {rows, cols}));
    return make_tensor_matrix(*t);
  }
  Result<std::vector<float>> vec(const std::string& name, int64_t n) const {
    MB_ASSIGN(const TensorView* t, get(name, {n}));
    return w.to_f32(*t);
  }
};

Status load_layer(const Loader& l, int i, DecoderLayer& d) {
  const DecoderConfig& c = l.c;
  const std::string p = "model.layers." + std::to_string(i) + ".";
  const int64_t q = static_cast<int64_t>(c.n_heads) * c.head_dim,
                kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;
  MB_ASSIGN(d.q, l.matrix(p + "self_attn.q_proj.weight", q, c.hidden));
  MB_ASSIGN(d.k, l.matrix(p + "self_attn.k_proj.weight", kv, c.hidden));
  MB_ASSIGN(d.v, l.matrix(p + "self_attn.v_proj.weight", kv, c.hidden));
  MB_ASSIGN(d.o, l.matrix(p + "self_attn.o_proj.weight", c.hidden, q));
  if (c.architecture == "Qwen2ForCausalLM") {
    MB_ASSIGN(d.q_bias, l.vec(p + "self_attn.q_proj.bias", q));
    MB_ASSIGN(d.k_bias, l.vec(p + "self_attn.k_proj.bias", kv));
    MB_ASSIGN(d.v_bias, l.vec(p + "self_attn.v_proj.bias", kv));
  }
  MB_ASSIGN(d.gate, l.matrix(p + "mlp.gate_proj.weight", c.intermediate, c.hidden));
  MB_ASSIGN(d.up, l.matrix(p + "mlp.up_proj.weight", c.intermediate, c.hidden));
  MB_ASSIGN(d.down, l.matrix(p + "mlp.down_proj.weight", c.hidden, c.intermediate));
  MB_ASSIGN(d.attn_norm, l.vec(p + "input_layernorm.weight", c.hidden));
  MB_ASSIGN(d.ffn_norm, l.vec(p + "post_attention_layernorm.weight", c.hidden));
  return {};
}

}  // namespace

Result<DecoderWeights> load_decoder_safetensors(const Weights& weights,
                                                const std::string& config_json) {
  DecoderWeights dw;
  MB_ASSIGN(dw.config, parse_decoder_config(config_json));
  const DecoderConfig& c = dw.config;
  const Loader l{weights, c};
  MB_ASSIGN(dw.embed, l.matrix("model.embed_tokens.weight", c.vocab, c.hidden));
  // As transformers: tied means the output is the embedding, even when a checkpoint also
  // stores an lm_head.weight (tie_weights() replaces it after loading).
  if (!c.tied_embeddings && weights.find("lm_head.weight") != nullptr) {
    MB_ASSIGN(dw.lm_head, l.matrix("lm_head.weight", c.vocab, c.hidden));
  } else if (!c.tied_embeddings) {
    return fail(ErrorCategory::integrity,
                "weights have no tensor 'lm_head.weight' and config.json does not tie it",
                "the weights are incomplete, or config.json lacks \"tie_word_embeddings\": true");
  }
  MB_ASSIGN(dw.final_norm, l.vec("model.norm.weight", c.hidden));
  dw.layers.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) MB_TRY(load_layer(l, i, dw.layers[static_cast<size_t>(i)]));
  return dw;
}

}  // namespace mb::infer
