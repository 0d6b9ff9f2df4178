#include "runtime/probe/decoder_probe.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/decoder/decoder.hpp"
#include "runtime/decoder/decoder_gguf.hpp"
#include "runtime/decoder/decoder_safetensors.hpp"
#include "runtime/formats/json_fields.hpp"
#include "runtime/kernels/parallel.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Far above any real model's smoke-test KV cache (Llama 3 70B: ~90 MB for 264 positions).
constexpr uint64_t k_max_runtime_bytes = 4ull << 30;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// The weights and everything they point into, kept together on the heap.
struct LoadedDecoder {
  Weights weights;  // mapped safetensors (DecoderWeights' matrices point into them)
  DecoderWeights model;
};

// The safetensors decoder of a folder with config.json (GGUF folders go to run_gguf_probe).
Result<std::unique_ptr<LoadedDecoder>> load_decoder_model(const ModelFiles& files,
                                                          const std::string& config_json) {
  auto d = std::make_unique<LoadedDecoder>();
  MB_ASSIGN(d->weights, Weights::open(files));
  MB_ASSIGN(d->model, load_decoder_safetensors(d->weights, config_json));
  return d;
}

// Recursion bounded by the nesting parse_model_json allows.
bool mentions_type(const json& j, const std::string& type) {
  if (!j.is_object()) return false;
  if (const json* t = find_field(j, "type"); t != nullptr && t->is_string() && *t == type)
    return true;
  for (const char* list : {"decoders", "pretokenizers"})
    if (j.contains(list) && j[list].is_array())
      for (const auto& x : j[list])
        if (mentions_type(x, type)) return true;
  return false;
}

// VmHWM of /proc/self/status: the peak resident set of this program. getrusage's ru_maxrss
// would carry over the peak of the process image before exec (e.g. a Python parent).
uint64_t peak_rss() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr)
    if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
  std::fclose(f);
  return static_cast<uint64_t>(kib) * 1024;
}

std::vector<std::string> weight_types(const DecoderWeights& w) {
  std::set<std::string> s;
  auto add = [&](const std::unique_ptr<Matrix>& m) {
    if (m) s.insert(m->type_name());
  };
  add(w.embed);
  add(w.lm_head);
  for (const auto& l : w.layers)
    for (const auto* m : {&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down}) add(*m);
  return {s.begin(), s.end()};
}

std::string model_type_of(const json& j) {
  const json* t = find_field(j, "model_type");
  return t != nullptr && t->is_string() ? t->get<std::string>() : std::string();
}

std::string architecture_of(const json& j) {
  if (!j.is_object() || !j.contains("architectures") || !j["architectures"].is_array() ||
      j["architectures"].empty() || !j["architectures"][0].is_string())
    return "";
  return j["architectures"][0].get<std::string>();
}

}  // namespace

int decoder_context(const DecoderConfig& c, int new_tokens) {
  return std::min(c.max_positions, k_decoder_prompt_tokens + new_tokens);
}

bool is_decoder_config(const std::string& config_json) {
  return is_decoder_architecture(architecture_of(parse_json(config_json)));
}

Result<TokenDecoder> TokenDecoder::from_json(const std::string& text) {
  MB_ASSIGN(const json j, parse_model_json(text, "tokenizer.json"));
  auto malformed = [](const std::string& what) {
    return make_error(ErrorCategory::integrity, "tokenizer.json: " + what,
                      "the tokenizer file is malformed");
  };
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
    return malformed("no model object");
  TokenDecoder d;
  auto put = [&](int64_t id, const std::string& tok, bool special) -> Status {
    if (id < 0 || id >= (1 << 24))
      return malformed("token id " + std::to_string(id) + " out of range");
    d.m_pieces[static_cast<int32_t>(id)] = Piece{tok, special};
    return {};
  };
  static const json none;
  const json* vocab_field = find_field(j["model"], "vocab");
  const json& vocab = vocab_field != nullptr ? *vocab_field : none;
  if (vocab.is_object()) {
    for (auto& [tok, id] : vocab.items())
      if (id.is_number_integer()) MB_TRY(put(id.get<int64_t>(), tok, false));
  } else if (vocab.is_array()) {  // Unigram: [[piece, score], ...]
    for (size_t i = 0; i < vocab.size(); ++i)
      if (vocab[i].is_array() && !vocab[i].empty() && vocab[i][0].is_string())
        MB_TRY(put(static_cast<int64_t>(i), vocab[i][0].get<std::string>(), false));
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const auto& a : j["added_tokens"])
      if (a.is_object() && a.contains("id") && a["id"].is_number_integer() &&
          a.contains("content") && a["content"].is_string()) {
        MB_ASSIGN(const bool special, bool_field(a, "special", false, "tokenizer.json"));
        MB_TRY(put(a["id"].get<int64_t>(), a["content"].get<std::string>(), special));
      }
  const json* dec_field = find_field(j, "decoder");
  const json& dec = dec_field != nullptr ? *dec_field : none;
  d.m_byte_level = mentions_type(dec, "ByteLevel");
  d.m_strip_leading_space = mentions_type(dec, "Strip") || mentions_type(dec, "Metaspace");
  return d;
}

namespace {

bool byte_token(const std::string& tok, unsigned* byte) {
  return tok.size() == 6 && tok.rfind("<0x", 0) == 0 && tok[5] == '>' && std::isxdigit(tok[3]) &&
         std::isxdigit(tok[4]) && std::sscanf(tok.c_str() + 3, "%2X", byte) == 1;
}

}  // namespace

std::string TokenDecoder::decode(const std::vector<int32_t>& ids) const {
  std::string text, run;  // run: consecutive <0xNN> tokens (ByteFallback decodes them together)
  auto flush = [&] {
    text += uni::byte_fallback(run);
    run.clear();
  };
  for (int32_t id : ids) {
    const auto piece = m_pieces.find(id);
    if (piece == m_pieces.end() || piece->second.special) continue;
    const std::string& tok = piece->second.text;
    if (m_byte_level) {
      for (char32_t c : uni::decode(tok)) {
        // Invert GPT-2's byte -> printable character map.
        for (int b = 0; b < 256; ++b)
          if (byte_to_unicode(static_cast<uint8_t>(b)) == c) {
            text.push_back(static_cast<char>(b));
            break;
          }
      }
      continue;
    }
    unsigned byte = 0;
    if (byte_token(tok, &byte)) {
      run.push_back(static_cast<char>(byte));
      continue;
    }
    flush();
    for (char32_t c : uni::decode(tok)) {
      if (c == U'\u2581')
        text.push_back(' ');
      else
        uni::append_utf8(text, c);
    }
  }
  if (m_byte_level) return uni::utf8_lossy(text);
  flush();
  if (m_strip_leading_space && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

std::string gguf_model_file(const ModelFiles& files) {
  if (files.exists("model.safetensors") || files.exists("model.safetensors.index.json")) return "";
  std::string best;
  off_t best_size = -1;
  for (const auto& name : files.list(".gguf")) {
    // Only what the lock lists: a file planted beside the model is not the model. Sizes only
    // rank the candidates (as the structure scan's primary()); the chosen file is then
    // opened confined to ROOT.
    if (!files.locked(name)) continue;
    struct stat st {};
    const off_t size = ::stat((files.dir() + "/" + name).c_str(), &st) == 0 ? st.st_size : 0;
    if (size > best_size) best = name, best_size = size;
  }
  return best;
}

namespace {

// The probe's text functions over a GGUF-embedded tokenizer (which must outlive them).
DecoderText gguf_text(const GgufTokenizer& tok) {
  return {[&tok](const std::string& t, size_t max_tokens) {
            std::vector<int32_t> ids = tok.encode(t);
            if (ids.size() > max_tokens) ids.resize(max_tokens);  // keeps BOS
            return ids;
          },
          [&tok](const std::vector<int32_t>& ids) { return tok.decode(ids); }};
}

// The KV cache and activations of the GGUF model `rel` (its tensor data, which is what the
// mapping costs, the structure scan already counts), from the metadata alone.
uint64_t gguf_probe_bytes(const ModelFiles& files, const std::string& rel, int new_tokens) {
  auto m = files.map(rel);
  if (!m.ok()) return 0;
  auto info = runtime::parse_gguf(runtime::ByteSpan{m->data(), m->size()});
  if (!info.ok()) return 0;
  auto cfg = gguf_decoder_config(*info);
  if (!cfg.ok()) return 0;
  return decoder_runtime_bytes(*cfg, decoder_context(*cfg, new_tokens));
}

}  // namespace

uint64_t decoder_probe_bytes(const ModelFiles& files, const std::string& expect_json) {
  auto expect = parse_expectations(expect_json);
  const int new_tokens = expect.ok() ? expect->new_tokens : Expectations{}.new_tokens;
  if (const std::string gguf = gguf_model_file(files); !gguf.empty())
    return gguf_probe_bytes(files, gguf, new_tokens);
  if (!files.exists("config.json")) return 0;
  auto text = files.read("config.json");
  if (!text.ok() || !is_decoder_config(*text)) return 0;
  auto cfg = parse_decoder_config(*text);
  if (!cfg.ok()) return 0;
  return decoder_runtime_bytes(*cfg, decoder_context(*cfg, new_tokens));
}

Result<ProbeResult> run_gguf_probe(const ModelFiles& files, const std::string& rel,
                                   const Expectations& expect) {
  ProbeResult r;
  const auto t_load = Clock::now();
  MB_ASSIGN(MappedFile mapped, files.map(rel));
  auto model = open_gguf_model(std::move(mapped));
  if (!model.ok()) {
    // A valid file this engine does not run (another architecture, a Q5_K tensor, YaRN) is
    // reported unsupported; a corrupt or hostile one fails the model.
    if (model.error().category != ErrorCategory::usage) return model.error().with_context(rel);
    r.unsupported_reason = model.error().message;
    return r;
  }
  r.load_ms = ms_since(t_load);
  r.architecture = model->weights.config.architecture;
  auto arch = model->info.metadata.find("general.architecture");
  if (arch != model->info.metadata.end()) r.model_type = arch->second;
  MB_TRY(probe_decoder(model->weights, gguf_text(model->tokenizer), expect, r));
  return r;
}

Result<ProbeResult> run_decoder_probe(const ModelFiles& files, const Expectations& expect,
                                      const std::string& config_json) {
  ProbeResult r;
  {
    const json j = parse_json(config_json);
    r.model_type = model_type_of(j);
    r.architecture = architecture_of(j);
  }
  const auto t_load = Clock::now();
  if (auto cfg = parse_decoder_config(config_json); !cfg.ok()) {
    if (cfg.error().category != ErrorCategory::usage) return cfg.error();
    r.unsupported_reason = cfg.error().message;  // valid, but not implemented (e.g. yarn)
    return r;
  }
  if (const uint64_t need = decoder_probe_bytes(files, ""); need > k_max_runtime_bytes)
    return fail(ErrorCategory::integrity,
                "config.json: the decoder would need " + std::to_string(need) +
                    " bytes of KV cache and activations",
                "the configuration is absurd; fetch the model again");
  MB_ASSIGN(std::string tok_text, files.read("tokenizer.json", 512ull << 20));
  auto tok = Tokenizer::from_json(tok_text);
  if (!tok.ok()) {
    if (tok.error().category != ErrorCategory::usage)
      return tok.error().with_context("tokenizer.json");
    r.unsupported_reason = tok.error().message;
    return r;
  }
  MB_ASSIGN(TokenDecoder detok, TokenDecoder::from_json(tok_text));
  MB_ASSIGN(auto loaded, load_decoder_model(files, config_json));
  r.load_ms = ms_since(t_load);
  const DecoderText text{
      [&](const std::string& t, size_t max_tokens) { return tok->encode(t, max_tokens); },
      [&](const std::vector<int32_t>& ids) { return detok.decode(ids); }};
  MB_TRY(probe_decoder(loaded->model, text, expect, r));
  return r;
}

Status probe_decoder(const DecoderWeights& w, const DecoderText& text, const Expectations& expect,
                     ProbeResult& r) {
  if (decoder_runtime_bytes(w.config, decoder_context(w.config, expect.new_tokens)) >
      k_max_runtime_bytes)
    return fail(
        ErrorCategory::integrity,
        "the decoder's configuration would need more than 4 GiB of KV cache and activations",
        "the configuration is absurd; fetch the model again");
  const auto t_setup = Clock::now();
  Decoder decoder(w, decoder_context(w.config, expect.new_tokens));
  r.load_ms += ms_since(t_setup);
  r.supported = true;
  r.weight_types = weight_types(w);
  r.weight_dtype = w.embed->type_name();

  const auto t_infer = Clock::now();
  r.probe_text = expect.probe_text.empty() ? k_default_probe_text : expect.probe_text;
  const int context = decoder_context(w.config, expect.new_tokens);
  const auto max_prompt = static_cast<size_t>(std::max(1, context - expect.new_tokens));
  r.token_ids = text.encode(r.probe_text, max_prompt);
  if (r.token_ids.empty())
    return fail(ErrorCategory::usage, "probe text \"" + r.probe_text + "\" produced no tokens");
  // A model with a tiny max_position_embeddings generates fewer tokens rather than overflow
  // (the last generated token is never fed back, hence the + 1).
  const int n = std::min(expect.new_tokens, context - static_cast<int>(r.token_ids.size()) + 1);
  MB_ASSIGN(Generation g, generate_greedy(decoder, r.token_ids, n, w.config.eos_token));
  r.infer_ms = ms_since(t_infer);
  r.output_kind = "next_token_logits";
  r.output = std::move(g.first_logits);
  r.dimension = static_cast<int>(r.output.size());
  r.generated_ids = std::move(g.ids);
  r.generated_text = text.decode(r.generated_ids);
  r.first_token_ms = g.first_token_ms;
  r.tokens_per_s = g.tokens_per_s;
  r.peak_rss_bytes = peak_rss();
  check_generation(expect, r);
  // expect.dim and expect.reference apply to the logits after the prompt; a reference text
  // other than the probe text is run from an empty cache.
  auto logits_of = [&](const std::string& t) -> Result<std::vector<float>> {
    decoder.reset();
    const std::vector<int32_t> ids = text.encode(t, max_prompt);
    if (ids.empty()) return fail(ErrorCategory::usage, "text \"" + t + "\" produced no tokens");
    return decoder.feed(ids);
  };
  return check_expectations(expect, r, logits_of);
}

namespace {

// The timed part of time_decoder, whatever the format: KV cache, prompt pass, greedy steps
// (never stopping at EOS, so every run times the same number of tokens).
Result<DecoderTiming> time_generation(const DecoderWeights& w, const std::vector<int32_t>& ids,
                                      int new_tokens, double load_ms) {
  DecoderTiming t;
  t.load_ms = load_ms;
  Decoder decoder(w, decoder_context(w.config, new_tokens));
  MB_ASSIGN(Generation g, generate_greedy(decoder, ids, new_tokens, -1));
  t.first_token_ms = g.first_token_ms;
  t.tokens_per_s = g.tokens_per_s;
  t.prompt_ids = ids;
  t.generated_ids = g.ids;
  return t;
}

bool ends_with_gguf(const std::string& path) {
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

}  // namespace

Result<DecoderTiming> time_decoder(const std::string& model_path, const std::string& text,
                                   int new_tokens, int threads) {
  set_infer_threads(threads);
  // A .gguf file, a folder holding one (as --infer picks it), or a safetensors folder.
  const bool is_file = ends_with_gguf(model_path);
  const auto slash = model_path.rfind('/');
  ModelFiles files(!is_file                     ? model_path
                   : slash == std::string::npos ? "."
                                                : model_path.substr(0, std::max<size_t>(slash, 1)));
  const std::string gguf = is_file ? model_path.substr(slash == std::string::npos ? 0 : slash + 1)
                                   : gguf_model_file(files);
  if (!gguf.empty()) {
    const auto t0 = Clock::now();
    MB_ASSIGN(MappedFile mapped, files.map(gguf));
    MB_ASSIGN(GgufModel model, open_gguf_model(std::move(mapped)));
    const double load_ms = ms_since(t0);
    const auto ids = gguf_text(model.tokenizer).encode(text, k_decoder_prompt_tokens);
    return time_generation(model.weights, ids, new_tokens, load_ms);
  }
  MB_ASSIGN(std::string config_json, files.read("config.json"));
  MB_ASSIGN(std::string tok_text, files.read("tokenizer.json", 512ull << 20));
  MB_ASSIGN(Tokenizer tok, Tokenizer::from_json(tok_text));
  const auto t0 = Clock::now();
  MB_ASSIGN(auto loaded, load_decoder_model(files, config_json));
  const double load_ms = ms_since(t0);
  return time_generation(loaded->model, tok.encode(text, k_decoder_prompt_tokens), new_tokens,
                         load_ms);
}

}  // namespace mb::infer
