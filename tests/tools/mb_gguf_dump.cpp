// Test driver of the GGUF decoder loader (tests/integration/test_gguf_reference.py): loads a
// file with load_decoder_gguf and prints, as JSON, the config, every matrix dequantised row by
// row (in HF order, under its GGUF tensor name) with W x for a fixed x, and the vectors.
//   mb_gguf_dump FILE
//   mb_gguf_dump --tokenize FILE TEXT   (the embedded tokenizer: ids, decoded text)
//   mb_gguf_dump --decode FILE IDS_JSON  (the embedded tokenizer's decode of the ids)
//   mb_gguf_dump --split MAX_DIGITS TEXT  (the Llama 3 / Qwen2 pre-tokenizer split)
// Errors print {"error", "category"} and exit 1.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/decoder/decoder_gguf.hpp"
#include "runtime/tokenizers/gguf_tokenizer.hpp"

using mb::infer::Matrix;
using nlohmann::json;

namespace {

// Exactly representable in float, so Python can rebuild it bit for bit.
std::vector<float> probe_x(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    x[static_cast<size_t>(i)] = static_cast<float>((i * 7) % 13 - 6) / 8.0f;
  return x;
}

json dump(const Matrix& m) {
  json rows = json::array();
  std::vector<float> row(static_cast<size_t>(m.cols()));
  for (int64_t r = 0; r < m.rows(); ++r) {
    m.row_f32(r, row.data());
    rows.push_back(row);
  }
  std::vector<float> y(static_cast<size_t>(m.rows()));
  m.matvec(probe_x(m.cols()).data(), y.data());
  return {{"type", m.type_name()}, {"rows", rows}, {"matvec", y}};
}

json config_json(const mb::infer::DecoderConfig& c) {
  return {{"architecture", c.architecture},
          {"n_layers", c.n_layers},
          {"hidden", c.hidden},
          {"n_heads", c.n_heads},
          {"n_kv_heads", c.n_kv_heads},
          {"head_dim", c.head_dim},
          {"intermediate", c.intermediate},
          {"vocab", c.vocab},
          {"max_positions", c.max_positions},
          {"rms_eps", c.rms_eps},
          {"rope_theta", c.rope_theta},
          {"rope_scaling", static_cast<int>(c.rope_scaling)},
          {"rope_factor", c.rope_factor},
          {"tied_embeddings", c.tied_embeddings},
          {"bos_token", c.bos_token},
          {"eos_token", c.eos_token}};
}

int print_error(const mb::Error& e) {
  json j = {{"error", e.describe()}, {"category", mb::to_string(e.category)}};
  std::printf("%s\n", j.dump().c_str());
  return 1;
}

int tokenize(const std::string& path, const std::string& text) {
  auto m = mb::infer::open_gguf_model(path);
  if (!m.ok()) return print_error(m.error());
  const auto& tok = m->tokenizer;
  const auto ids = tok.encode(text);
  json j = {{"model", tok.model()},       {"ids", ids},
            {"decoded", tok.decode(ids)}, {"bos", tok.bos_token()},
            {"eos", tok.eos_token()},     {"vocab", tok.vocab_size()}};
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  return 0;
}

int decode(const std::string& path, const std::string& ids_json) {
  auto m = mb::infer::open_gguf_model(path);
  if (!m.ok()) return print_error(m.error());
  const auto ids = json::parse(ids_json).get<std::vector<int32_t>>();
  json j = {{"text", m->tokenizer.decode(ids)}};
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--tokenize") return tokenize(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "--decode") return decode(argv[2], argv[3]);
  if (argc == 4 && std::string(argv[1]) == "--split") {
    json j = mb::infer::split_llama3_style(argv[3], std::atoi(argv[2]));
    std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "usage: mb_gguf_dump FILE | mb_gguf_dump --tokenize FILE TEXT\n");
    return 2;
  }
  auto r = mb::infer::load_decoder_gguf(std::string(argv[1]));
  if (!r.ok()) return print_error(r.error());
  const auto& w = *r;
  json m = json::object(), v = json::object();
  m["token_embd.weight"] = dump(*w.embed);
  if (w.lm_head) m["output.weight"] = dump(*w.lm_head);
  v["output_norm.weight"] = w.final_norm;
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const auto& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    m[p + "attn_q.weight"] = dump(*l.q);
    m[p + "attn_k.weight"] = dump(*l.k);
    m[p + "attn_v.weight"] = dump(*l.v);
    m[p + "attn_output.weight"] = dump(*l.o);
    m[p + "ffn_gate.weight"] = dump(*l.gate);
    m[p + "ffn_up.weight"] = dump(*l.up);
    m[p + "ffn_down.weight"] = dump(*l.down);
    v[p + "attn_norm.weight"] = l.attn_norm;
    v[p + "ffn_norm.weight"] = l.ffn_norm;
    if (!l.q_bias.empty()) {
      v[p + "attn_q.bias"] = l.q_bias;
      v[p + "attn_k.bias"] = l.k_bias;
      v[p + "attn_v.bias"] = l.v_bias;
    }
  }
  json out = {{"config", config_json(w.config)},
              {"types", mb::infer::gguf_weight_types(w)},
              {"matrices", m},
              {"vectors", v}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
