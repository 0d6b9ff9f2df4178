#include "runtime/encoder/encoder.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "runtime/formats/json_fields.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;

Error config_error(const std::string& what) {
  return make_error(ErrorCategory::integrity, "config.json: " + what,
                    "the model's config.json is malformed; fetch the model again");
}

Result<int> get_int(const json& j, const char* key, int fallback, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return config_error(std::string("missing \"") + key + "\"");
    return fallback;
  }
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 ||
      j[key].get<int64_t>() > (1 << 24))
    return config_error(std::string("\"") + key + "\" is not a positive integer");
  return static_cast<int>(j[key].get<int64_t>());
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<EncoderConfig> parse_encoder_config(const std::string& text, std::string* unsupported) {
  json j = parse_json(text);
  if (!j.is_object()) return config_error("not a JSON object");
  EncoderConfig c;
  if (j.contains("model_type") && j["model_type"].is_string())
    c.model_type = j["model_type"].get<std::string>();
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    c.architecture = j["architectures"][0].get<std::string>();
  const std::string& mt = c.model_type;
  if (mt == "bert") {
    c.family = Family::bert;
  } else if (mt == "roberta" || mt == "xlm-roberta" || mt == "camembert") {
    c.family = Family::roberta;
  } else if (mt == "distilbert") {
    c.family = Family::distilbert;
  } else if (mt == "mpnet") {
    c.family = Family::mpnet;
  } else {
    *unsupported =
        "unsupported architecture " +
        (c.architecture.empty() ? (mt.empty() ? std::string("(no model_type)") : mt)
                                : c.architecture) +
        ": inference supports BERT-family encoders (bert, roberta, xlm-roberta, distilbert, mpnet)";
    return c;
  }
  if (!c.architecture.empty() && !ends_with(c.architecture, "Model") &&
      !ends_with(c.architecture, "ForSequenceClassification") &&
      !ends_with(c.architecture, "ForMaskedLM") && !ends_with(c.architecture, "ForPreTraining")) {
    *unsupported = "unsupported architecture " + c.architecture +
                   ": inference supports encoders and *ForSequenceClassification heads";
    return c;
  }
  if (j.contains("position_embedding_type") && j["position_embedding_type"].is_string() &&
      j["position_embedding_type"].get<std::string>() != "absolute") {
    *unsupported = "unsupported architecture " + c.architecture + ": position_embedding_type " +
                   j["position_embedding_type"].get<std::string>();
    return c;
  }
  const bool distil = c.family == Family::distilbert;
  MB_ASSIGN(c.vocab_size, get_int(j, "vocab_size", 0, true));
  MB_ASSIGN(c.hidden, get_int(j, distil ? "dim" : "hidden_size", 0, true));
  MB_ASSIGN(c.layers, get_int(j, distil ? "n_layers" : "num_hidden_layers", 0, true));
  MB_ASSIGN(c.heads, get_int(j, distil ? "n_heads" : "num_attention_heads", 0, true));
  MB_ASSIGN(c.intermediate, get_int(j, distil ? "hidden_dim" : "intermediate_size", 0, true));
  MB_ASSIGN(c.max_positions, get_int(j, "max_position_embeddings", 512, false));
  if (c.hidden % c.heads != 0)
    return config_error("hidden size is not a multiple of the head count");
  if (j.contains("layer_norm_eps") && j["layer_norm_eps"].is_number())
    c.eps = j["layer_norm_eps"].get<float>();
  const char* act_key = distil ? "activation" : "hidden_act";
  if (j.contains(act_key) && j[act_key].is_string()) c.activation = j[act_key].get<std::string>();
  if (c.activation != "gelu" && c.activation != "gelu_new" && c.activation != "gelu_pytorch_tanh" &&
      c.activation != "relu") {
    *unsupported = "unsupported architecture " + c.architecture + ": activation " + c.activation;
    return c;
  }
  if (c.family == Family::roberta) {
    int pad = 1;
    if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
      pad = j["pad_token_id"].get<int>();
    c.position_offset = pad + 1;
  }
  if (c.family == Family::mpnet) {
    // MPNetEmbeddings hard-codes padding_idx = 1, whatever pad_token_id says.
    c.position_offset = 2;
    MB_ASSIGN(c.relative_buckets,
              get_int(j, "relative_attention_num_buckets", k_mpnet_buckets, false));
    if (c.relative_buckets < k_mpnet_buckets)
      return config_error("relative_attention_num_buckets " + std::to_string(c.relative_buckets) +
                          " is below the 32 buckets MPNet's attention looks up");
  }
  c.classifier = ends_with(c.architecture, "ForSequenceClassification");
  if (c.classifier) {
    std::vector<std::string> labels;
    if (j.contains("id2label") && j["id2label"].is_object()) {
      labels.resize(j["id2label"].size());
      for (auto& [k, v] : j["id2label"].items()) {
        size_t idx = 0;
        bool ok = !k.empty() && k.size() < 7 && std::all_of(k.begin(), k.end(), ::isdigit);
        if (ok) idx = std::stoul(k);
        if (!ok || idx >= labels.size() || !v.is_string())
          return config_error("id2label key '" + k + "' is not a label index");
        labels[idx] = v.get<std::string>();
      }
    }
    int n = labels.empty() ? 2 : static_cast<int>(labels.size());
    MB_ASSIGN(c.num_labels, get_int(j, "num_labels", n, false));
    c.id2label = std::move(labels);
  }
  return c;
}

namespace {

// "384x1536"
std::string dims(const std::vector<int64_t>& shape) {
  std::string s;
  for (int64_t d : shape) {
    if (!s.empty()) s += 'x';
    s += std::to_string(d);
  }
  return s;
}

}  // namespace

// Finds a tensor under the names the checkpoints use: with or without the base-model prefix.
struct Encoder::TensorNames {
  const Weights& w;
  std::vector<std::string> prefixes;
  Arena* arena = nullptr;
  bool dry_run = false;  // only check that each tensor exists with its shape; convert nothing
  const TensorView* find(const std::string& name) const {
    for (const auto& p : prefixes)
      if (const TensorView* t = w.find(p + name)) return t;
    return nullptr;
  }
  Result<const TensorView*> need(const std::string& name, std::vector<int64_t> shape) const {
    const TensorView* t = find(name);
    if (t == nullptr)
      return fail(ErrorCategory::integrity,
                  "weights: tensor '" + prefixes.back() + name + "' is missing",
                  "the weights do not match config.json");
    if (t->shape != shape) {
      return fail(ErrorCategory::integrity,
                  "weights: tensor '" + t->name + "' has shape " + dims(t->shape) +
                      ", config.json implies " + dims(shape),
                  "the weights do not match config.json");
    }
    if (t->dtype == DType::other)
      return fail(ErrorCategory::integrity,
                  "weights: tensor '" + t->name + "' has dtype " + t->dtype_name,
                  "inference needs F32, F16 or BF16 weights");
    return t;
  }
  Result<std::vector<float>> vec(const std::string& name, int n) const {
    MB_ASSIGN(const TensorView* t, need(name, {n}));
    if (dry_run) return std::vector<float>();
    return w.to_f32(*t);
  }
  // nn.Linear weight [n, k] and bias [n]; several weights are concatenated along n (fused
  // QKV). Rows are converted straight from the mapping into the packed panels.
  Result<PackedLinear> linear(const std::vector<std::string>& bases, int n, int k,
                              bool bias = true) const {
    std::vector<const TensorView*> parts;
    std::vector<float> ball;
    for (const auto& b : bases) {
      MB_ASSIGN(const TensorView* t, need(b + ".weight", {n, k}));
      parts.push_back(t);
      if (bias) {
        MB_ASSIGN(std::vector<float> bv, vec(b + ".bias", n));
        ball.insert(ball.end(), bv.begin(), bv.end());
      }
    }
    if (dry_run) return PackedLinear{};
    const int total = n * static_cast<int>(bases.size());
    PackedLinear p = pack_linear_rows(
        total, k, [&](int c, float* out) { w.row_f32(*parts[c / n], c % n, out); }, arena);
    if (bias) p.bias = std::move(ball);
    return p;
  }
};

namespace {

// Tensor names of one encoder layer under "<prefix><index>.": DistilBERT names them its own
// way, BERT/RoBERTa/XLM-R share theirs; the shapes and the computation are the same.
struct LayerNames {
  const char* prefix;
  const char *query, *key, *value, *attn_out;
  std::string attn_norm;  // LayerNorm after attention: <attn_norm>.weight / .bias
  const char *ffn_in, *ffn_out;
  std::string ffn_norm;  // LayerNorm after the feed-forward block
};

const LayerNames k_distilbert_layer{"transformer.layer.", "attention.q_lin",   "attention.k_lin",
                                    "attention.v_lin",    "attention.out_lin", "sa_layer_norm",
                                    "ffn.lin1",           "ffn.lin2",          "output_layer_norm"};
const LayerNames k_bert_layer{
    "encoder.layer.",       "attention.self.query",   "attention.self.key",
    "attention.self.value", "attention.output.dense", "attention.output.LayerNorm",
    "intermediate.dense",   "output.dense",           "output.LayerNorm"};
const LayerNames k_mpnet_layer{"encoder.layer.",     "attention.attn.q", "attention.attn.k",
                               "attention.attn.v",   "attention.attn.o", "attention.LayerNorm",
                               "intermediate.dense", "output.dense",     "output.LayerNorm"};

const char* base_prefix(Family f) {
  switch (f) {
    case Family::bert: return "bert.";
    case Family::roberta: return "roberta.";
    case Family::distilbert: return "distilbert.";
    case Family::mpnet: return "mpnet.";
  }
  return "";
}

}  // namespace

int relative_position_bucket(int relative_position) {
  constexpr int half = k_mpnet_buckets / 2, max_exact = half / 2, max_distance = 128;
  const int ret = relative_position > 0 ? half : 0;  // keys after the query use the upper half
  const int n = std::abs(relative_position);
  if (n < max_exact) return ret + n;
  // float32 in transformers' order of operations, so truncation picks the same bucket
  // (n = 16, 32, 64 land exactly on a bucket boundary).
  const float log_ratio =
      static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
  const float scaled = std::log(static_cast<float>(n) / static_cast<float>(max_exact)) / log_ratio *
                       static_cast<float>(half - max_exact);
  return ret + std::min(max_exact + static_cast<int>(scaled), half - 1);
}

// Reads every tensor of the encoder through `nm`/`head`; with dry-run names it only checks
// that each exists in the shape config.json implies.
Status Encoder::load_tensors(const TensorNames& nm, const TensorNames& head) {
  const EncoderConfig& c = m_cfg;
  const Weights& weights = nm.w;
  const int h = c.hidden;
  const int64_t pos_rows = c.max_positions;
  const bool distil = c.family == Family::distilbert, mpnet = c.family == Family::mpnet;
  MB_ASSIGN(m_word, nm.need("embeddings.word_embeddings.weight", {c.vocab_size, h}));
  MB_ASSIGN(m_pos, nm.need("embeddings.position_embeddings.weight", {pos_rows, h}));
  if (mpnet) {
    MB_ASSIGN(const TensorView* rb,
              nm.need("encoder.relative_attention_bias.weight", {c.relative_buckets, c.heads}));
    MB_ASSIGN(m_rel_bias, weights.to_f32(*rb));
  }
  if (const TensorView* t =
          distil || mpnet ? nullptr : nm.find("embeddings.token_type_embeddings.weight")) {
    if (t->shape.size() != 2 || t->shape[1] != h || t->shape[0] < 1 || t->dtype == DType::other)
      return fail(ErrorCategory::integrity,
                  "weights: tensor '" + t->name + "' has an unexpected shape or dtype");
    m_type = t;
  }
  MB_ASSIGN(m_emb_g, nm.vec("embeddings.LayerNorm.weight", h));
  MB_ASSIGN(m_emb_b, nm.vec("embeddings.LayerNorm.bias", h));
  const LayerNames& n = distil ? k_distilbert_layer : mpnet ? k_mpnet_layer : k_bert_layer;
  m_layers.clear();
  for (int i = 0; i < c.layers; ++i) {
    const std::string p = n.prefix + std::to_string(i) + ".";
    Layer l;
    MB_ASSIGN(l.qkv, nm.linear({p + n.query, p + n.key, p + n.value}, h, h));
    MB_ASSIGN(l.attn_out, nm.linear({p + n.attn_out}, h, h));
    MB_ASSIGN(l.ln1_g, nm.vec(p + n.attn_norm + ".weight", h));
    MB_ASSIGN(l.ln1_b, nm.vec(p + n.attn_norm + ".bias", h));
    MB_ASSIGN(l.inter, nm.linear({p + n.ffn_in}, c.intermediate, h));
    MB_ASSIGN(l.out, nm.linear({p + n.ffn_out}, h, c.intermediate));
    MB_ASSIGN(l.ln2_g, nm.vec(p + n.ffn_norm + ".weight", h));
    MB_ASSIGN(l.ln2_b, nm.vec(p + n.ffn_norm + ".bias", h));
    if (!nm.dry_run) m_layers.push_back(std::move(l));
  }
  if (c.classifier) {
    if (distil) {
      MB_ASSIGN(m_head_dense, head.linear({"pre_classifier"}, h, h));
      MB_ASSIGN(m_head_out, head.linear({"classifier"}, c.num_labels, h));
      m_head_act = "relu";
    } else if (c.family == Family::bert) {
      MB_ASSIGN(m_head_dense, nm.linear({"pooler.dense"}, h, h));
      MB_ASSIGN(m_head_out, head.linear({"classifier"}, c.num_labels, h));
      m_head_act = "tanh";
    } else {
      MB_ASSIGN(m_head_dense, head.linear({"classifier.dense"}, h, h));
      MB_ASSIGN(m_head_out, head.linear({"classifier.out_proj"}, c.num_labels, h));
      m_head_act = "tanh";
    }
  }
  return {};
}

Result<Encoder> Encoder::load(const Weights& weights, const EncoderConfig& c) {
  Encoder e;
  e.m_cfg = c;
  e.m_weights = &weights;
  // First check every tensor against config.json, then size the arena: the sizes come from
  // config.json, and a hostile one (num_labels 2^24, thousands of layers) must fail on its
  // missing or mis-shaped tensor, not allocate for it.
  {
    const TensorNames dry_nm{weights, {"", base_prefix(c.family)}, nullptr, true};
    const TensorNames dry_head{weights, {""}, nullptr, true};
    MB_TRY(e.load_tensors(dry_nm, dry_head));
  }
  const int h = c.hidden;
  const size_t per_layer = packed_floats(3 * h, h) + packed_floats(h, h) +
                           packed_floats(c.intermediate, h) + packed_floats(h, c.intermediate) +
                           4 * 16;
  const size_t head_floats =
      c.classifier ? packed_floats(h, h) + packed_floats(c.num_labels, h) + 2 * 16 : 0;
  e.m_arena = Arena(per_layer * static_cast<size_t>(c.layers) + head_floats);
  const TensorNames nm{weights, {"", base_prefix(c.family)}, &e.m_arena};
  const TensorNames head{weights, {""}, &e.m_arena};
  MB_TRY(e.load_tensors(nm, head));
  return e;
}

std::vector<float> Encoder::position_bias(int t) const {
  if (m_rel_bias.empty()) return {};
  const int heads = m_cfg.heads, span = 2 * t - 1;
  std::vector<float> out(static_cast<size_t>(heads) * span);
  for (int r = -(t - 1); r <= t - 1; ++r) {
    const int b = relative_position_bucket(r);
    for (int hd = 0; hd < heads; ++hd)
      out[static_cast<size_t>(hd) * span + (r + t - 1)] =
          m_rel_bias[static_cast<size_t>(b) * heads + hd];
  }
  return out;
}

void Encoder::attention(const float* qkv, int t, const float* bias, float* ctx) const {
  const int h = m_cfg.hidden, heads = m_cfg.heads, d = h / heads, ld = 3 * h;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<float> scores(static_cast<size_t>(t));
  for (int hd = 0; hd < heads; ++hd) {
    const float* q = qkv + hd * d;
    const float* k = qkv + h + hd * d;
    const float* v = qkv + 2 * h + hd * d;
    // Bias of key j for query i is row[j - i]: the relative position key - query.
    const float* bias_head =
        bias != nullptr ? bias + static_cast<size_t>(hd) * (2 * t - 1) + (t - 1) : nullptr;
    for (int i = 0; i < t; ++i) {
      const float* qi = q + static_cast<size_t>(i) * ld;
      for (int j = 0; j < t; ++j) {
        const float* kj = k + static_cast<size_t>(j) * ld;
        float s = 0;
        for (int c = 0; c < d; ++c) s += qi[c] * kj[c];
        scores[j] = s * scale;
      }
      if (bias_head != nullptr)
        for (int j = 0; j < t; ++j) scores[j] += bias_head[j - i];
      softmax(scores.data(), t);
      float* out = ctx + static_cast<size_t>(i) * h + hd * d;
      std::fill(out, out + d, 0.0f);
      for (int j = 0; j < t; ++j) {
        const float p = scores[j];
        const float* vj = v + static_cast<size_t>(j) * ld;
        for (int c = 0; c < d; ++c) out[c] += p * vj[c];
      }
    }
  }
}

std::vector<float> Encoder::forward(const std::vector<int32_t>& ids) const {
  const int t = static_cast<int>(ids.size()), h = m_cfg.hidden;
  std::vector<float> x(static_cast<size_t>(t) * h), row(static_cast<size_t>(h));
  std::vector<float> type0(static_cast<size_t>(h), 0.0f);
  if (m_type != nullptr) m_weights->row_f32(*m_type, 0, type0.data());
  for (int i = 0; i < t; ++i) {
    float* xi = x.data() + static_cast<size_t>(i) * h;
    m_weights->row_f32(*m_word, ids[i], xi);
    m_weights->row_f32(*m_pos, i + m_cfg.position_offset, row.data());
    for (int c = 0; c < h; ++c) xi[c] += row[c] + type0[c];
  }
  layer_norm(x.data(), t, h, m_emb_g.data(), m_emb_b.data(), m_cfg.eps);

  std::vector<float> qkv(static_cast<size_t>(t) * 3 * h), ctx(static_cast<size_t>(t) * h);
  std::vector<float> tmp(static_cast<size_t>(t) * h),
      inter(static_cast<size_t>(t) * m_cfg.intermediate);
  const std::vector<float> bias = position_bias(t);  // computed once, shared by all layers
  for (const Layer& l : m_layers) {
    linear(x.data(), t, l.qkv, qkv.data());
    attention(qkv.data(), t, bias.empty() ? nullptr : bias.data(), ctx.data());
    linear(ctx.data(), t, l.attn_out, tmp.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    layer_norm(x.data(), t, h, l.ln1_g.data(), l.ln1_b.data(), m_cfg.eps);
    linear(x.data(), t, l.inter, inter.data());
    if (m_cfg.activation == "gelu")
      gelu_erf(inter.data(), inter.size());
    else if (m_cfg.activation == "relu")
      relu(inter.data(), inter.size());
    else
      gelu_tanh(inter.data(), inter.size());
    linear(inter.data(), t, l.out, tmp.data());
    for (size_t i = 0; i < x.size(); ++i) x[i] += tmp[i];
    layer_norm(x.data(), t, h, l.ln2_g.data(), l.ln2_b.data(), m_cfg.eps);
  }
  return x;
}

std::vector<float> Encoder::classify(const std::vector<float>& hidden) const {
  const int h = m_cfg.hidden;
  std::vector<float> first(hidden.begin(), hidden.begin() + h), mid(static_cast<size_t>(h));
  linear(first.data(), 1, m_head_dense, mid.data());
  if (m_head_act == "relu")
    relu(mid.data(), mid.size());
  else
    for (float& v : mid) v = std::tanh(v);
  std::vector<float> logits(static_cast<size_t>(m_cfg.num_labels));
  linear(mid.data(), 1, m_head_out, logits.data());
  return logits;
}

}  // namespace mb::infer
