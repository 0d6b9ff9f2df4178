// Tokenizer models: WordPiece (BERT), BPE (byte-level for RoBERTa), Unigram (XLM-RoBERTa).
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "runtime/formats/json_fields.hpp"
#include "runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace mb::infer {

namespace {

using nlohmann::json;

Error model_error(const std::string& what) {
  return make_error(ErrorCategory::integrity, "tokenizer.json: model: " + what,
                    "the tokenizer file is malformed; fetch the model again");
}

std::string str_or(const json& j, const char* key, const std::string& fallback) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

using Vocab = std::unordered_map<std::string, int32_t>;

Result<Vocab> read_vocab_object(const json& j) {
  if (!j.contains("vocab") || !j["vocab"].is_object())
    return model_error("\"vocab\" is not an object");
  Vocab v;
  for (auto& [tok, id] : j["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > (1 << 30))
      return model_error("token id of '" + tok + "' is not a valid id");
    v[tok] = id.get<int32_t>();
  }
  return v;
}

size_t max_id_plus_one(const Vocab& v) {
  int32_t m = -1;
  for (const auto& [k, id] : v) m = std::max(m, id);
  return m < 0 ? 0 : static_cast<size_t>(m) + 1;
}

// Greedy longest-match-first WordPiece with a continuation prefix ("##").
class WordPiece final : public TokenModel {
 public:
  Vocab vocab;
  std::string unk = "[UNK]", prefix = "##";
  size_t max_chars = 100;

  void encode_word(const std::string& word, std::vector<int32_t>& out) const override {
    const std::u32string chars = uni::decode(word);
    const int32_t unk_id = token_to_id(unk);
    if (chars.size() > max_chars) {
      if (unk_id >= 0) out.push_back(unk_id);
      return;
    }
    std::vector<int32_t> pieces;
    size_t start = 0;
    while (start < chars.size()) {
      size_t end = chars.size();
      int32_t found = -1;
      while (start < end) {
        std::string sub = uni::encode(std::u32string_view(chars).substr(start, end - start));
        if (start > 0) sub = prefix + sub;
        auto it = vocab.find(sub);
        if (it != vocab.end()) {
          found = it->second;
          break;
        }
        --end;
      }
      if (found < 0) {  // any unmatched piece makes the whole word unknown
        if (unk_id >= 0) out.push_back(unk_id);
        return;
      }
      pieces.push_back(found);
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }
  int32_t token_to_id(const std::string& t) const override {
    auto it = vocab.find(t);
    return it == vocab.end() ? -1 : it->second;
  }
  size_t vocab_size() const override { return max_id_plus_one(vocab); }
  const char* kind() const override { return "WordPiece"; }
};

// BPE: repeatedly merge the adjacent pair with the lowest merge rank.
class Bpe final : public TokenModel {
 public:
  Vocab vocab;
  std::map<std::pair<std::string, std::string>, int32_t> ranks;
  std::string unk, prefix, suffix;
  bool byte_fallback = false, ignore_merges = false;

  void encode_word(const std::string& word, std::vector<int32_t>& out) const override {
    if (ignore_merges) {
      if (auto it = vocab.find(word); it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    const std::u32string chars = uni::decode(word);
    std::vector<std::string> sym;
    for (size_t i = 0; i < chars.size(); ++i) {
      std::string s;
      uni::append_utf8(s, chars[i]);
      if (i > 0) s = prefix + s;
      if (i + 1 == chars.size()) s += suffix;
      sym.push_back(std::move(s));
    }
    while (sym.size() > 1) {
      int32_t best = std::numeric_limits<int32_t>::max();
      size_t at = 0;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        std::string right = sym[i + 1];
        if (!prefix.empty() && right.rfind(prefix, 0) == 0) right = right.substr(prefix.size());
        auto it = ranks.find({sym[i], right});
        if (it != ranks.end() && it->second < best) {
          best = it->second;
          at = i;
        }
      }
      if (best == std::numeric_limits<int32_t>::max()) break;
      std::string right = sym[at + 1];
      if (!prefix.empty() && right.rfind(prefix, 0) == 0) right = right.substr(prefix.size());
      sym[at] += right;
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    for (const auto& s : sym) {
      if (auto it = vocab.find(s); it != vocab.end()) {
        out.push_back(it->second);
        continue;
      }
      bool done = false;
      if (byte_fallback) {
        std::vector<int32_t> bytes;
        for (unsigned char b : s) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          int32_t id = token_to_id(name);
          if (id < 0) break;
          bytes.push_back(id);
        }
        if (bytes.size() == s.size()) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          done = true;
        }
      }
      if (!done && !unk.empty() && token_to_id(unk) >= 0) out.push_back(token_to_id(unk));
    }
  }
  int32_t token_to_id(const std::string& t) const override {
    auto it = vocab.find(t);
    return it == vocab.end() ? -1 : it->second;
  }
  size_t vocab_size() const override { return max_id_plus_one(vocab); }
  const char* kind() const override { return "BPE"; }
};

// Unigram: Viterbi segmentation maximising the sum of piece log-probabilities.
class Unigram final : public TokenModel {
 public:
  std::vector<std::pair<std::string, double>> pieces;
  Vocab ids;
  int32_t unk_id = -1;
  bool byte_fallback = false;
  size_t max_piece_chars = 1;
  double unk_score = 0;

  void encode_word(const std::string& word, std::vector<int32_t>& out) const override {
    const std::u32string chars = uni::decode(word);
    const size_t n = chars.size();
    constexpr double k_neg = -std::numeric_limits<double>::infinity();
    std::vector<double> best(n + 1, k_neg);
    std::vector<size_t> from(n + 1, 0);
    std::vector<int32_t> via(n + 1, -1);
    best[0] = 0;
    for (size_t i = 0; i < n; ++i) {
      if (best[i] == k_neg) continue;
      std::string sub;
      bool single = false;
      for (size_t len = 1; len <= max_piece_chars && i + len <= n; ++len) {
        uni::append_utf8(sub, chars[i + len - 1]);
        auto it = ids.find(sub);
        if (it == ids.end()) continue;
        if (len == 1) single = true;
        const double s = best[i] + pieces[static_cast<size_t>(it->second)].second;
        if (s > best[i + len]) {
          best[i + len] = s;
          from[i + len] = i;
          via[i + len] = it->second;
        }
      }
      if (!single && best[i] + unk_score > best[i + 1]) {  // unknown character
        best[i + 1] = best[i] + unk_score;
        from[i + 1] = i;
        via[i + 1] = unk_id;
      }
    }
    std::vector<std::pair<size_t, int32_t>> path;  // (start, id), reversed
    for (size_t end = n; end > 0; end = from[end]) path.emplace_back(from[end], via[end]);
    std::reverse(path.begin(), path.end());
    for (size_t k = 0; k < path.size(); ++k) {
      const int32_t id = path[k].second;
      if (id != unk_id || unk_id < 0) {
        if (id >= 0) out.push_back(id);
        continue;
      }
      // Consecutive unknown characters fuse into one unknown token (fuse_unk).
      size_t e = k;
      while (e + 1 < path.size() && path[e + 1].second == unk_id) ++e;
      const size_t stop = e + 1 < path.size() ? path[e + 1].first : n;
      const std::string text =
          uni::encode(std::u32string_view(chars).substr(path[k].first, stop - path[k].first));
      std::vector<int32_t> bytes;
      if (byte_fallback) {
        for (unsigned char b : text) {
          char name[8];
          std::snprintf(name, sizeof name, "<0x%02X>", b);
          auto it = ids.find(name);
          if (it == ids.end()) break;
          bytes.push_back(it->second);
        }
      }
      if (byte_fallback && bytes.size() == text.size())
        out.insert(out.end(), bytes.begin(), bytes.end());
      else
        out.push_back(unk_id);
      k = e;
    }
  }
  int32_t token_to_id(const std::string& t) const override {
    auto it = ids.find(t);
    return it == ids.end() ? -1 : it->second;
  }
  size_t vocab_size() const override { return pieces.size(); }
  const char* kind() const override { return "Unigram"; }
};

Result<std::unique_ptr<TokenModel>> make_wordpiece(const json& j) {
  auto m = std::make_unique<WordPiece>();
  MB_ASSIGN(m->vocab, read_vocab_object(j));
  m->unk = str_or(j, "unk_token", "[UNK]");
  m->prefix = str_or(j, "continuing_subword_prefix", "##");
  if (j.contains("max_input_chars_per_word") && j["max_input_chars_per_word"].is_number_unsigned())
    m->max_chars = j["max_input_chars_per_word"].get<size_t>();
  return std::unique_ptr<TokenModel>(std::move(m));
}

Result<std::unique_ptr<TokenModel>> make_bpe(const json& j) {
  auto m = std::make_unique<Bpe>();
  MB_ASSIGN(m->vocab, read_vocab_object(j));
  m->unk = str_or(j, "unk_token", "");
  m->prefix = str_or(j, "continuing_subword_prefix", "");
  m->suffix = str_or(j, "end_of_word_suffix", "");
  MB_ASSIGN(m->byte_fallback, bool_field(j, "byte_fallback", false, "tokenizer.json"));
  MB_ASSIGN(m->ignore_merges, bool_field(j, "ignore_merges", false, "tokenizer.json"));
  if (!j.contains("merges") || !j["merges"].is_array())
    return model_error("BPE \"merges\" is not an array");
  int32_t rank = 0;
  for (const auto& mg : j["merges"]) {
    std::string a, b;
    if (mg.is_string()) {  // "a b" (older files)
      const std::string s = mg.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) return model_error("BPE merge '" + s + "' has no space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
      a = mg[0].get<std::string>();
      b = mg[1].get<std::string>();
    } else {
      return model_error("BPE merge entry is neither \"a b\" nor [a, b]");
    }
    m->ranks.emplace(std::make_pair(std::move(a), std::move(b)), rank++);
  }
  return std::unique_ptr<TokenModel>(std::move(m));
}

Result<std::unique_ptr<TokenModel>> make_unigram(const json& j) {
  auto m = std::make_unique<Unigram>();
  if (!j.contains("vocab") || !j["vocab"].is_array())
    return model_error("Unigram \"vocab\" is not an array");
  double min_score = 0;
  for (const auto& e : j["vocab"]) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      return model_error("Unigram vocab entry is not [piece, score]");
    std::string piece = e[0].get<std::string>();
    const double score = e[1].get<double>();
    min_score = std::min(min_score, score);
    m->max_piece_chars = std::max(m->max_piece_chars, uni::decode(piece).size());
    m->ids.emplace(piece, static_cast<int32_t>(m->pieces.size()));
    m->pieces.emplace_back(std::move(piece), score);
  }
  if (j.contains("unk_id") && j["unk_id"].is_number_integer()) {
    const int64_t u = j["unk_id"].get<int64_t>();
    if (u < 0 || u >= static_cast<int64_t>(m->pieces.size()))
      return model_error("Unigram unk_id out of range");
    m->unk_id = static_cast<int32_t>(u);
  }
  MB_ASSIGN(m->byte_fallback, bool_field(j, "byte_fallback", false, "tokenizer.json"));
  m->unk_score = min_score - 10.0;  // as sentencepiece / tokenizers: a heavy penalty
  return std::unique_ptr<TokenModel>(std::move(m));
}

}  // namespace

Result<std::unique_ptr<TokenModel>> make_token_model(const json& j) {
  if (!j.is_object()) return model_error("not an object");
  std::string type = str_or(j, "type", "");
  if (type.empty()) {  // very old files omit the type; infer it from the shape
    if (j.contains("merges"))
      type = "BPE";
    else if (j.contains("vocab") && j["vocab"].is_array())
      type = "Unigram";
    else
      type = "WordPiece";
  }
  if (type == "WordPiece") return make_wordpiece(j);
  if (type == "BPE") return make_bpe(j);
  if (type == "Unigram") return make_unigram(j);
  return fail(ErrorCategory::usage, "unsupported tokenizer model type " + type,
              "inference supports WordPiece, BPE and Unigram tokenizers");
}

}  // namespace mb::infer
