#include "runtime/tokenizers/gguf_tokenizer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <tuple>
#include <unordered_map>

#include "runtime/tokenizers/unicode.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;
using runtime::ByteSpan;
using runtime::GgufInfo;

constexpr int32_t k_type_control = 3;
constexpr int32_t k_type_byte = 6;
constexpr size_t k_max_piece_bytes = 256;
const char* const k_space = "\xe2\x96\x81";  // U+2581, sentencepiece's space

Failure corrupt(const std::string& what) {
  return fail(ErrorCategory::integrity, "gguf tokenizer: " + what,
              "the model file is corrupt; fetch it again");
}

// Optional numeric metadata as an id in [0, n), -1 when absent.
Result<int32_t> special(const GgufInfo& info, const std::string& key, size_t n) {
  auto it = info.numbers.find(key);
  if (it == info.numbers.end()) return -1;
  if (!(it->second >= 0 && it->second < static_cast<double>(n))) {
    return corrupt(key + " is not a token id below " + std::to_string(n));
  }
  return static_cast<int32_t>(it->second);
}

bool flag(const GgufInfo& info, const std::string& key, bool def) {
  auto it = info.metadata.find(key);
  return it == info.metadata.end() ? def : it->second == "true";
}

json vocab_json(const std::vector<std::string>& tokens) {
  json v = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!v.contains(tokens[i])) v[tokens[i]] = i;  // duplicates: the first id wins
  }
  return v;
}

// Sentencepiece BPE merges from the scores: every split a|b of a piece into two pieces of the
// vocabulary, best-scored piece first (ties: lower id), as transformers' converter orders them.
json spm_merges(const std::vector<std::string>& tokens, const std::vector<double>& scores,
                const std::vector<int32_t>& types) {
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < tokens.size(); ++i) ids.emplace(tokens[i], static_cast<int32_t>(i));
  std::vector<std::tuple<double, int32_t, size_t>> order;  // -score, id, split position
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == k_type_control || types[i] == k_type_byte) continue;
    const std::string& p = tokens[i];
    // Sentencepiece pieces are at most 16 characters; a hostile 60 MB token must not cost
    // quadratic time here.
    if (p.size() > k_max_piece_bytes) continue;
    for (size_t k = 1; k < p.size(); ++k) {
      if ((static_cast<unsigned char>(p[k]) & 0xC0) == 0x80) continue;  // inside a character
      if (ids.count(p.substr(0, k)) && ids.count(p.substr(k))) {
        order.emplace_back(-scores[i], static_cast<int32_t>(i), k);
      }
    }
  }
  std::sort(order.begin(), order.end());
  json merges = json::array();
  for (const auto& [neg, id, k] : order) {
    const std::string& p = tokens[static_cast<size_t>(id)];
    merges.push_back(json::array({p.substr(0, k), p.substr(k)}));
  }
  return merges;
}

json added_tokens(const std::vector<std::string>& tokens, const std::vector<int32_t>& types) {
  json out = json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (types[i] == k_type_control)
      out.push_back({{"id", i}, {"content", tokens[i]}, {"special", true}});
  }
  return out;
}

uint8_t unicode_to_byte(char32_t c, bool& ok) {
  static const std::unordered_map<char32_t, uint8_t> inverse = [] {
    std::unordered_map<char32_t, uint8_t> m;
    for (int b = 0; b < 256; ++b)
      m[byte_to_unicode(static_cast<uint8_t>(b))] = static_cast<uint8_t>(b);
    return m;
  }();
  auto it = inverse.find(c);
  ok = it != inverse.end();
  return ok ? it->second : 0;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<GgufTokenizer> GgufTokenizer::from_gguf(ByteSpan file, const GgufInfo& info) {
  GgufTokenizer t;
  auto m = info.metadata.find("tokenizer.ggml.model");
  t.m_model = m == info.metadata.end() ? "" : m->second;
  if (t.m_model != "gpt2" && t.m_model != "llama") {
    return fail(
        ErrorCategory::usage, "gguf tokenizer: unsupported model '" + t.m_model + "'",
        "inference supports the gpt2 (byte-level BPE) and llama (sentencepiece) GGUF tokenizers");
  }
  MB_ASSIGN(t.m_tokens, runtime::gguf_string_array(file, info, "tokenizer.ggml.tokens"));
  const size_t n = t.m_tokens.size();
  if (n == 0) return corrupt("tokenizer.ggml.tokens is empty");
  t.m_types.assign(n, 1);
  if (info.arrays.count("tokenizer.ggml.token_type")) {
    MB_ASSIGN(auto types, runtime::gguf_number_array(file, info, "tokenizer.ggml.token_type"));
    if (types.size() != n)
      return corrupt(fmt::format("token_type has {} entries for {} tokens", types.size(), n));
    for (size_t i = 0; i < n; ++i) {
      // llama.cpp's types are 0..6; anything else (or a NaN/huge float) is not its file.
      if (!(types[i] >= 0 && types[i] <= 6))
        return corrupt("token_type of token " + std::to_string(i) + " is not 0..6");
      t.m_types[i] = static_cast<int32_t>(types[i]);
    }
  }
  MB_ASSIGN(t.m_bos, special(info, "tokenizer.ggml.bos_token_id", n));
  MB_ASSIGN(t.m_eos, special(info, "tokenizer.ggml.eos_token_id", n));
  MB_ASSIGN(int32_t unk, special(info, "tokenizer.ggml.unknown_token_id", n));
  const bool spm = t.m_model == "llama";
  t.m_add_bos = flag(info, "tokenizer.ggml.add_bos_token", spm) && t.m_bos >= 0;
  json j;
  json model = {{"type", "BPE"}, {"vocab", vocab_json(t.m_tokens)}};
  if (spm) {
    MB_ASSIGN(auto scores, runtime::gguf_number_array(file, info, "tokenizer.ggml.scores"));
    if (scores.size() != n)
      return corrupt(fmt::format("scores has {} entries for {} tokens", scores.size(), n));
    model["merges"] = spm_merges(t.m_tokens, scores, t.m_types);
    model["byte_fallback"] = true;
    if (unk >= 0) model["unk_token"] = t.m_tokens[static_cast<size_t>(unk)];
    json norm = json::array();
    if (flag(info, "tokenizer.ggml.add_space_prefix", true))
      norm.push_back({{"type", "Prepend"}, {"prepend", k_space}});
    norm.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", k_space}});
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", norm}};
  } else {
    MB_ASSIGN(auto merges, runtime::gguf_string_array(file, info, "tokenizer.ggml.merges"));
    model["merges"] = merges;
    auto pre = info.metadata.find("tokenizer.ggml.pre");
    const std::string p = pre == info.metadata.end() ? "default" : pre->second;
    if (p == "qwen2")
      t.m_split_digits = 1;
    else if (p == "llama-bpe" || p == "llama3")
      t.m_split_digits = 3;
    else if (p != "default" && p != "gpt2" && p != "gpt-2") {
      return fail(ErrorCategory::usage, "gguf tokenizer: unsupported pre-tokenizer '" + p + "'",
                  "inference supports the gpt2, qwen2 and llama-bpe pre-tokenizers of GGUF files");
    }
    // The regex split is done in encode() for qwen2/llama-bpe, by ByteLevel for gpt2.
    j["pre_tokenizer"] = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", t.m_split_digits == 0}};
  }
  j["model"] = std::move(model);
  j["added_tokens"] = added_tokens(t.m_tokens, t.m_types);
  // Invalid UTF-8 in a token becomes U+FFFD instead of throwing; such a token cannot match.
  MB_ASSIGN(t.m_tok, Tokenizer::from_json(j.dump(-1, ' ', false, json::error_handler_t::replace)));
  return t;
}

std::vector<int32_t> GgufTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  if (m_add_bos) ids.push_back(m_bos);
  if (m_split_digits == 0) {
    std::vector<int32_t> body = m_tok.encode(text, 0);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  }
  for (const auto& piece : split_llama3_style(text, m_split_digits)) {
    std::vector<int32_t> body = m_tok.encode(piece, 0);
    ids.insert(ids.end(), body.begin(), body.end());
  }
  return ids;
}

std::string GgufTokenizer::decode(const std::vector<int32_t>& ids) const {
  // As transformers decodes: gpt2 is the ByteLevel decoder (bytes joined, then lossy UTF-8);
  // llama is Replace(U+2581 -> ' ') + ByteFallback (a run of <0xNN> tokens that is not
  // valid UTF-8 becomes one U+FFFD per token) + Strip of one leading space.
  std::string out, run;  // run: consecutive byte tokens, decoded together
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= m_tokens.size()) continue;
    const std::string& tok = m_tokens[static_cast<size_t>(id)];
    const int32_t type = m_types[static_cast<size_t>(id)];
    if (type == k_type_control) continue;
    if (m_model == "gpt2") {
      for (char32_t c : uni::decode(tok)) {
        bool ok = false;
        const uint8_t b = unicode_to_byte(c, ok);
        if (ok)
          out.push_back(static_cast<char>(b));
        else
          uni::append_utf8(out, c);  // an added token stored as plain text
      }
    } else if (type == k_type_byte && tok.size() == 6 && hex_digit(tok[3]) >= 0 &&
               hex_digit(tok[4]) >= 0) {
      run.push_back(static_cast<char>(hex_digit(tok[3]) * 16 + hex_digit(tok[4])));
    } else {
      out += uni::byte_fallback(run);
      run.clear();
      for (size_t at = 0; at < tok.size();) {
        if (tok.compare(at, 3, k_space) == 0) {
          out.push_back(' ');
          at += 3;
        } else {
          out.push_back(tok[at++]);
        }
      }
    }
  }
  if (m_model == "gpt2") return uni::utf8_lossy(out);
  out += uni::byte_fallback(run);
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  return uni::utf8_lossy(out);  // a normal piece holding invalid UTF-8 (a corrupt file)
}

}  // namespace mb::infer
