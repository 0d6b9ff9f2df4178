#include "runtime/decoder/decoder_gguf.hpp"

#include <climits>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "runtime/decoder/quant.hpp"

namespace mb::infer {

namespace {

using runtime::GgufInfo;
using runtime::TensorInfo;

Failure corrupt(const std::string& what) {
  return fail(
      ErrorCategory::integrity, "gguf: " + what,
      "the model file is corrupt or was not written by a llama.cpp converter; fetch it again");
}

Failure unsupported(const std::string& what) {
  return fail(ErrorCategory::usage, "gguf: " + what,
              "inference supports GGUF architectures llama and qwen2 with F32, F16, Q8_0, Q4_0, "
              "Q4_1, Q5_0, Q5_1, Q4_K and Q6_K tensors");
}

// Upper bounds far above any real model, so a hostile header cannot size a huge allocation
// (the layer vector, the KV cache the decoder derives from these).
constexpr int64_t k_max_layers = 1024;
constexpr int64_t k_max_width = 1 << 20;  // hidden, intermediate, heads, head size
constexpr int64_t k_max_vocab = 1 << 24;
constexpr int64_t k_max_positions = 1 << 24;

class Loader {
 public:
  Loader(std::shared_ptr<const MappedFile> file, const GgufInfo& info)
      : m_file(std::move(file)), m_info(info) {
    for (const auto& t : info.tensors) m_tensors.emplace(t.name, &t);
  }

  Result<DecoderWeights> load();
  // The architecture and hyper-parameters alone (no tensor data read).
  Result<DecoderConfig> config();

 private:
  Result<int> get_int(const std::string& key, int64_t min, int64_t max,
                      std::optional<int> def = {});
  Result<float> get_float(const std::string& key, float def);
  std::string get_string(const std::string& key) const;
  Status read_config(DecoderConfig& c);
  Status read_rope(DecoderConfig& c);
  Result<const TensorInfo*> tensor(const std::string& name) const;
  Result<std::unique_ptr<Matrix>> matrix(const std::string& name, int64_t rows, int64_t cols,
                                         int64_t permute_heads = 0);
  Result<std::vector<float>> vector(const std::string& name, int64_t n);
  Status load_layer(int i, DecoderLayer& l);

  std::shared_ptr<const MappedFile> m_file;
  const GgufInfo& m_info;
  std::unordered_map<std::string, const TensorInfo*> m_tensors;
  std::string m_arch;
  DecoderConfig m_c;
};

std::string Loader::get_string(const std::string& key) const {
  auto it = m_info.metadata.find(key);
  return it == m_info.metadata.end() ? "" : it->second;
}

Result<int> Loader::get_int(const std::string& key, int64_t min, int64_t max,
                            std::optional<int> def) {
  auto it = m_info.numbers.find(key);
  if (it == m_info.numbers.end()) {
    if (def) return *def;
    return corrupt("metadata '" + key + "' is missing or not a number");
  }
  const double v = it->second;
  if (!(v >= static_cast<double>(min) && v <= static_cast<double>(max)) || v != std::floor(v)) {
    return corrupt("metadata '" + key + "' = " + get_string(key) + " is outside [" +
                   std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return static_cast<int>(v);
}

Result<float> Loader::get_float(const std::string& key, float def) {
  auto it = m_info.numbers.find(key);
  if (it == m_info.numbers.end()) return def;
  if (!std::isfinite(it->second) || it->second <= 0) {
    return corrupt("metadata '" + key + "' = " + get_string(key) + " is not a positive number");
  }
  return static_cast<float>(it->second);
}

Status Loader::read_rope(DecoderConfig& c) {
  const std::string a = m_arch + ".";
  MB_ASSIGN(c.rope_theta, get_float(a + "rope.freq_base", 10000.0f));
  const std::string scaling = get_string(a + "rope.scaling.type");
  if (scaling == "linear") {
    c.rope_scaling = RopeScaling::linear;
    MB_ASSIGN(c.rope_factor, get_float(a + "rope.scaling.factor", 1.0f));
  } else if (!scaling.empty() && scaling != "none") {
    return unsupported("rope scaling type '" + scaling + "'");
  } else if (m_info.numbers.count(a + "rope.scale_linear")) {  // older converters
    c.rope_scaling = RopeScaling::linear;
    MB_ASSIGN(c.rope_factor, get_float(a + "rope.scale_linear", 1.0f));
  }
  if (m_tensors.count("rope_freqs.weight")) {
    return unsupported("per-frequency rope factors (rope_freqs.weight, Llama 3.1 rope scaling)");
  }
  MB_ASSIGN(c.rope_original_max_positions,
            get_int(a + "rope.scaling.original_context_length", 0, k_max_positions, 0));
  return {};
}

Status Loader::read_config(DecoderConfig& c) {
  const std::string a = m_arch + ".";
  c.architecture = m_arch == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM";
  MB_ASSIGN(c.n_layers, get_int(a + "block_count", 1, k_max_layers));
  MB_ASSIGN(c.hidden, get_int(a + "embedding_length", 1, k_max_width));
  MB_ASSIGN(c.n_heads, get_int(a + "attention.head_count", 1, k_max_width));
  MB_ASSIGN(c.n_kv_heads, get_int(a + "attention.head_count_kv", 1, k_max_width, c.n_heads));
  MB_ASSIGN(c.intermediate, get_int(a + "feed_forward_length", 1, k_max_width));
  MB_ASSIGN(c.max_positions, get_int(a + "context_length", 1, k_max_positions));
  MB_ASSIGN(c.head_dim, get_int(a + "attention.key_length", 2, k_max_width, c.hidden / c.n_heads));
  MB_ASSIGN(int v_dim, get_int(a + "attention.value_length", 2, k_max_width, c.head_dim));
  if (v_dim != c.head_dim) return unsupported("value head size differs from the key head size");
  if (c.n_heads % c.n_kv_heads != 0 || c.head_dim % 2 != 0 || c.head_dim < 2) {
    return corrupt("attention heads " + std::to_string(c.n_heads) + "/" +
                   std::to_string(c.n_kv_heads) + " of size " + std::to_string(c.head_dim) +
                   " are inconsistent");
  }
  MB_ASSIGN(c.rms_eps, get_float(a + "attention.layer_norm_rms_epsilon", 1e-5f));
  MB_TRY(read_rope(c));
  // The vocabulary is the token list when there is one, else the embedding rows.
  auto tok = m_info.arrays.find("tokenizer.ggml.tokens");
  MB_ASSIGN(const TensorInfo* embd, tensor("token_embd.weight"));
  const uint64_t rows = embd->shape.empty() ? 0 : embd->shape[0];
  constexpr uint32_t k_gguf_string = 8;
  if (tok != m_info.arrays.end() && tok->second.elem_type != k_gguf_string) {
    return corrupt("metadata 'tokenizer.ggml.tokens' is not an array of strings");
  }
  const uint64_t vocab = tok != m_info.arrays.end() ? tok->second.count : rows;
  if (vocab == 0 || vocab > static_cast<uint64_t>(k_max_vocab)) {
    return corrupt("vocabulary of " + std::to_string(vocab) + " tokens");
  }
  c.vocab = static_cast<int>(vocab);
  MB_ASSIGN(c.bos_token, get_int("tokenizer.ggml.bos_token_id", 0, c.vocab - 1, -1));
  MB_ASSIGN(c.eos_token, get_int("tokenizer.ggml.eos_token_id", 0, c.vocab - 1, -1));
  c.tied_embeddings = m_tensors.count("output.weight") == 0;
  return {};
}

Result<const TensorInfo*> Loader::tensor(const std::string& name) const {
  auto it = m_tensors.find(name);
  if (it == m_tensors.end()) return corrupt("tensor '" + name + "' is missing");
  return it->second;
}

uint32_t type_id(const std::string& name) {
  for (uint32_t id : {0u, 1u, 2u, 3u, 6u, 7u, 8u, 12u, 14u}) {
    if (name == quant_block(id).name) return id;
  }
  return ~0u;
}

Result<std::unique_ptr<Matrix>> Loader::matrix(const std::string& name, int64_t rows, int64_t cols,
                                               int64_t permute_heads) {
  MB_ASSIGN(const TensorInfo* t, tensor(name));
  if (t->shape.size() != 2 || t->shape[0] != static_cast<uint64_t>(rows) ||
      t->shape[1] != static_cast<uint64_t>(cols)) {
    return corrupt(
        "tensor '" + name + "' has shape " + runtime::shape_string(t->shape) +
        ", the metadata implies " +
        runtime::shape_string({static_cast<uint64_t>(rows), static_cast<uint64_t>(cols)}));
  }
  const uint32_t type = type_id(t->dtype);
  if (type == ~0u) return unsupported("tensor '" + name + "' has type " + t->dtype);
  std::vector<int32_t> map;
  if (permute_heads > 0) {
    map = llama_rope_unpermute(rows, permute_heads);
    if (map.empty() || rows > INT32_MAX)
      return corrupt("tensor '" + name + "' cannot be split into heads");
  }
  MB_ASSIGN(auto m, QuantMatrix::create(type, m_file->data() + t->offset, t->nbytes, rows, cols,
                                        m_file, std::move(map)));
  return std::unique_ptr<Matrix>(std::move(m));
}

Result<std::vector<float>> Loader::vector(const std::string& name, int64_t n) {
  MB_ASSIGN(const TensorInfo* t, tensor(name));
  if (t->shape.size() != 1 || t->shape[0] != static_cast<uint64_t>(n)) {
    return corrupt("tensor '" + name + "' has shape " + runtime::shape_string(t->shape) +
                   ", the metadata implies [" + std::to_string(n) + "]");
  }
  const uint32_t type = type_id(t->dtype);
  // llama.cpp keeps norms and biases in F32; anything else is not a file it wrote.
  if (type != 0 && type != 1) return corrupt("vector '" + name + "' has type " + t->dtype);
  if (t->nbytes != static_cast<uint64_t>(n) * quant_block(type).bytes) {
    return corrupt("tensor '" + name + "' byte size does not match its shape");
  }
  std::vector<float> out(static_cast<size_t>(n));
  dequantize(static_cast<GgmlType>(type), m_file->data() + t->offset, out.data(), n);
  return out;
}

Status Loader::load_layer(int i, DecoderLayer& l) {
  const std::string p = "blk." + std::to_string(i) + ".";
  const int64_t q_rows = int64_t{m_c.n_heads} * m_c.head_dim;
  const int64_t kv_rows = int64_t{m_c.n_kv_heads} * m_c.head_dim;
  const bool llama = m_arch == "llama";
  MB_ASSIGN(l.q, matrix(p + "attn_q.weight", q_rows, m_c.hidden, llama ? m_c.n_heads : 0));
  MB_ASSIGN(l.k, matrix(p + "attn_k.weight", kv_rows, m_c.hidden, llama ? m_c.n_kv_heads : 0));
  MB_ASSIGN(l.v, matrix(p + "attn_v.weight", kv_rows, m_c.hidden));
  MB_ASSIGN(l.o, matrix(p + "attn_output.weight", m_c.hidden, q_rows));
  if (!llama) {
    MB_ASSIGN(l.q_bias, vector(p + "attn_q.bias", q_rows));
    MB_ASSIGN(l.k_bias, vector(p + "attn_k.bias", kv_rows));
    MB_ASSIGN(l.v_bias, vector(p + "attn_v.bias", kv_rows));
  } else if (m_tensors.count(p + "attn_q.bias")) {
    return unsupported("attention biases in a llama-architecture file");
  }
  MB_ASSIGN(l.gate, matrix(p + "ffn_gate.weight", m_c.intermediate, m_c.hidden));
  MB_ASSIGN(l.up, matrix(p + "ffn_up.weight", m_c.intermediate, m_c.hidden));
  MB_ASSIGN(l.down, matrix(p + "ffn_down.weight", m_c.hidden, m_c.intermediate));
  MB_ASSIGN(l.attn_norm, vector(p + "attn_norm.weight", m_c.hidden));
  MB_ASSIGN(l.ffn_norm, vector(p + "ffn_norm.weight", m_c.hidden));
  return {};
}

Result<DecoderConfig> Loader::config() {
  m_arch = get_string("general.architecture");
  if (m_arch != "llama" && m_arch != "qwen2") {
    return unsupported("architecture '" + m_arch + "'");
  }
  MB_TRY(read_config(m_c));
  return m_c;
}

Result<DecoderWeights> Loader::load() {
  MB_TRY(config());
  DecoderWeights w;
  w.config = m_c;
  MB_ASSIGN(w.embed, matrix("token_embd.weight", m_c.vocab, m_c.hidden));
  if (!m_c.tied_embeddings) {
    MB_ASSIGN(w.lm_head, matrix("output.weight", m_c.vocab, m_c.hidden));
  }
  MB_ASSIGN(w.final_norm, vector("output_norm.weight", m_c.hidden));
  w.layers.resize(static_cast<size_t>(m_c.n_layers));
  for (int i = 0; i < m_c.n_layers; ++i) MB_TRY(load_layer(i, w.layers[static_cast<size_t>(i)]));
  return w;
}

}  // namespace

Result<DecoderWeights> load_decoder_gguf(std::shared_ptr<const MappedFile> file,
                                         const GgufInfo& info) {
  Loader l(std::move(file), info);
  return l.load();
}

Result<DecoderWeights> load_decoder_gguf(const std::string& path) {
  MB_ASSIGN(MappedFile m, MappedFile::open(path));
  auto file = std::make_shared<const MappedFile>(std::move(m));
  MB_ASSIGN(GgufInfo info, runtime::parse_gguf(runtime::ByteSpan{file->data(), file->size()}));
  return load_decoder_gguf(file, info);
}

Result<DecoderConfig> gguf_decoder_config(const GgufInfo& info) {
  Loader l(nullptr, info);
  return l.config();
}

Result<GgufModel> open_gguf_model(const std::string& path) {
  MB_ASSIGN(MappedFile m, MappedFile::open(path));
  return open_gguf_model(std::move(m));
}

Result<GgufModel> open_gguf_model(MappedFile m) {
  GgufModel g;
  g.file = std::make_shared<const MappedFile>(std::move(m));
  const runtime::ByteSpan span{g.file->data(), g.file->size()};
  MB_ASSIGN(g.info, runtime::parse_gguf(span));
  MB_ASSIGN(g.weights, load_decoder_gguf(g.file, g.info));
  MB_ASSIGN(g.tokenizer, GgufTokenizer::from_gguf(span, g.info));
  return g;
}

std::string gguf_weight_types(const DecoderWeights& w) {
  std::string out;
  auto add = [&](const Matrix* m) {
    if (m == nullptr) return;
    const std::string t = m->type_name();
    if (("+" + out + "+").find("+" + t + "+") == std::string::npos)
      out += (out.empty() ? "" : "+") + t;
  };
  add(w.embed.get());
  add(w.lm_head.get());
  for (const auto& l : w.layers) {
    for (const Matrix* m :
         {l.q.get(), l.k.get(), l.v.get(), l.o.get(), l.gate.get(), l.up.get(), l.down.get()}) {
      add(m);
    }
  }
  return out;
}

}  // namespace mb::infer
