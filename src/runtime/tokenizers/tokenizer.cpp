#include "runtime/tokenizers/tokenizer.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "runtime/formats/json_fields.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace mb::infer {

using nlohmann::json;
using Words = std::vector<std::u32string>;

struct NormalizerStep {
  virtual ~NormalizerStep() = default;
  virtual void apply(std::u32string& s) const = 0;
};

struct PreTokenizerStep {
  virtual ~PreTokenizerStep() = default;
  virtual void apply(Words& words) const = 0;
};

namespace {

Error unsupported(const std::string& what, const std::string& type) {
  return make_error(ErrorCategory::usage, "unsupported tokenizer " + what + " type " + type,
                    "inference supports the BERT, RoBERTa and XLM-RoBERTa tokenizer pipelines");
}

Error malformed(const std::string& what) {
  return make_error(ErrorCategory::integrity, "tokenizer.json: " + what,
                    "the tokenizer file is malformed; fetch the model again");
}

constexpr const char* k_file = "tokenizer.json";

// The field `key` of `j`, or null (without copying: a copy recurses per level).
const json& sub(const json& j, const char* key) {
  static const json null;
  const json* v = find_field(j, key);
  return v == nullptr ? null : *v;
}

std::string type_of(const json& j) {
  return j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                      : "";
}

void lower(std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) uni::append_lower(out, c);
  s = std::move(out);
}

void strip_accents(std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s)
    if (!uni::is_combining_mark(c)) out.push_back(uni::strip_accent(c));
  s = std::move(out);
}

// ---- normalizers ------------------------------------------------------------------------

struct BertNormalizer final : NormalizerStep {
  bool clean = true, chinese = true, strip = true, lowercase = true;
  void apply(std::u32string& s) const override {
    std::u32string out;
    out.reserve(s.size());
    for (char32_t c : s) {
      if (clean) {
        if (c == 0 || c == 0xfffd || uni::is_control(c)) continue;
        if (uni::is_whitespace(c)) c = ' ';
      }
      if (chinese && uni::is_cjk(c)) {
        out.push_back(' ');
        out.push_back(c);
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    if (strip) strip_accents(out);
    if (lowercase) lower(out);
    s = std::move(out);
  }
};

struct Lowercase final : NormalizerStep {
  void apply(std::u32string& s) const override { lower(s); }
};
struct StripAccents final : NormalizerStep {
  void apply(std::u32string& s) const override { strip_accents(s); }
};
// NFC/NFKC/NFD/NFKD and sentencepiece's Precompiled charsmap are applied as identity: the
// probe text is plain precomposed text (docs/inference.md, "Limits").
struct Identity final : NormalizerStep {
  void apply(std::u32string&) const override {}
};
struct Prepend final : NormalizerStep {
  std::u32string text;
  void apply(std::u32string& s) const override {
    if (!s.empty()) s = text + s;
  }
};
struct Strip final : NormalizerStep {
  bool left = true, right = true;
  void apply(std::u32string& s) const override {
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && uni::is_whitespace(s[b])) ++b;
    if (right)
      while (e > b && uni::is_whitespace(s[e - 1])) --e;
    s = s.substr(b, e - b);
  }
};
// Replace with a literal pattern, or with the one regex checkpoints use (" {2,}").
struct Replace final : NormalizerStep {
  std::u32string pattern, content;
  bool runs_of_spaces = false;
  void apply(std::u32string& s) const override {
    std::u32string out;
    for (size_t i = 0; i < s.size();) {
      if (runs_of_spaces && s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') {
        while (i < s.size() && s[i] == ' ') ++i;
        out += content;
      } else if (!runs_of_spaces && !pattern.empty() &&
                 s.compare(i, pattern.size(), pattern) == 0) {
        out += content;
        i += pattern.size();
      } else {
        out.push_back(s[i++]);
      }
    }
    s = std::move(out);
  }
};

Status add_normalizer(const json& j, std::vector<std::unique_ptr<NormalizerStep>>& out) {
  if (j.is_null()) return {};
  const std::string t = type_of(j);
  if (t == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      return malformed("normalizer Sequence");
    for (const auto& n : j["normalizers"]) MB_TRY(add_normalizer(n, out));
  } else if (t == "BertNormalizer") {
    auto n = std::make_unique<BertNormalizer>();
    MB_ASSIGN(n->clean, bool_field(j, "clean_text", true, k_file));
    MB_ASSIGN(n->chinese, bool_field(j, "handle_chinese_chars", true, k_file));
    MB_ASSIGN(n->lowercase, bool_field(j, "lowercase", true, k_file));
    // strip_accents: null means "follow lowercase" (as in BERT's original tokenizer).
    n->strip = j.contains("strip_accents") && j["strip_accents"].is_boolean()
                   ? j["strip_accents"].get<bool>()
                   : n->lowercase;
    out.push_back(std::move(n));
  } else if (t == "Lowercase") {
    out.push_back(std::make_unique<Lowercase>());
  } else if (t == "StripAccents") {
    out.push_back(std::make_unique<StripAccents>());
  } else if (t == "NFC" || t == "NFD" || t == "NFKC" || t == "NFKD" || t == "Precompiled") {
    out.push_back(std::make_unique<Identity>());
  } else if (t == "Prepend") {
    auto n = std::make_unique<Prepend>();
    MB_ASSIGN(std::string text, string_field(j, "prepend", "", k_file));
    n->text = uni::decode(text);
    out.push_back(std::move(n));
  } else if (t == "Strip") {
    auto n = std::make_unique<Strip>();
    MB_ASSIGN(n->left, bool_field(j, "strip_left", true, k_file));
    MB_ASSIGN(n->right, bool_field(j, "strip_right", true, k_file));
    out.push_back(std::move(n));
  } else if (t == "Replace") {
    auto n = std::make_unique<Replace>();
    if (!j.contains("pattern") || !j["pattern"].is_object())
      return malformed("Replace without pattern");
    MB_ASSIGN(std::string content, string_field(j, "content", "", k_file));
    n->content = uni::decode(content);
    const json& p = j["pattern"];
    if (p.contains("String") && p["String"].is_string()) {
      n->pattern = uni::decode(p["String"].get<std::string>());
    } else if (p.contains("Regex") && p["Regex"].is_string() &&
               p["Regex"].get<std::string>() == " {2,}") {
      n->runs_of_spaces = true;
    } else {
      return unsupported("normalizer", "Replace with regex " + describe_json(sub(p, "Regex")));
    }
    out.push_back(std::move(n));
  } else {
    return unsupported("normalizer", t.empty() ? "(none)" : t);
  }
  return {};
}

// ---- pre-tokenizers ---------------------------------------------------------------------

// Splits each word with `classify(c)`: 0 = drop (separator), 1 = keep joined, 2 = isolate.
template <class F>
void split_words(Words& words, F classify) {
  Words out;
  for (const auto& w : words) {
    std::u32string cur;
    for (char32_t c : w) {
      const int k = classify(c);
      if (k == 1) {
        cur.push_back(c);
        continue;
      }
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      if (k == 2) out.emplace_back(1, c);
    }
    if (!cur.empty()) out.push_back(std::move(cur));
  }
  words = std::move(out);
}

struct BertPre final : PreTokenizerStep {
  void apply(Words& w) const override {
    split_words(w, [](char32_t c) {
      return uni::is_whitespace(c) ? 0 : uni::is_punctuation(c) ? 2 : 1;
    });
  }
};
struct WhitespaceSplit final : PreTokenizerStep {
  void apply(Words& w) const override {
    split_words(w, [](char32_t c) { return uni::is_whitespace(c) ? 0 : 1; });
  }
};
struct PunctuationPre final : PreTokenizerStep {
  void apply(Words& w) const override {
    split_words(w, [](char32_t c) { return uni::is_punctuation(c) ? 2 : 1; });
  }
};
struct DigitsPre final : PreTokenizerStep {
  void apply(Words& w) const override {
    split_words(w, [](char32_t c) { return c >= '0' && c <= '9' ? 2 : 1; });
  }
};
// \w+|[^\w\s]+
struct WhitespacePre final : PreTokenizerStep {
  void apply(Words& words) const override {
    auto word_char = [](char32_t c) {
      return uni::is_letter(c) || uni::is_number(c) || c == '_' || uni::is_combining_mark(c);
    };
    Words out;
    for (const auto& w : words) {
      size_t i = 0;
      while (i < w.size()) {
        if (uni::is_whitespace(w[i])) {
          ++i;
          continue;
        }
        const bool wc = word_char(w[i]);
        size_t j = i;
        while (j < w.size() && !uni::is_whitespace(w[j]) && word_char(w[j]) == wc) ++j;
        out.push_back(w.substr(i, j - i));
        i = j;
      }
    }
    words = std::move(out);
  }
};

// GPT-2's pattern, scanned by hand:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void gpt2_split(const std::u32string& s, Words& out) {
  auto cls = [](char32_t c) {
    return uni::is_letter(c) ? 1 : uni::is_number(c) ? 2 : uni::is_whitespace(c) ? 3 : 4;
  };
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    if (s[i] == '\'') {
      static const std::u32string k_contractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                      U"'m", U"'ll", U"'d"};
      bool hit = false;
      for (const auto& c : k_contractions) {
        if (s.compare(i, c.size(), c) == 0) {
          out.push_back(c);
          i += c.size();
          hit = true;
          break;
        }
      }
      if (hit) continue;
    }
    size_t j = i;
    if (s[j] == ' ' && j + 1 < n && cls(s[j + 1]) != 3) ++j;
    const int k = cls(s[j]);
    if (k != 3) {
      while (j < n && cls(s[j]) == k) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
      continue;
    }
    size_t e = i;
    while (e < n && cls(s[e]) == 3) ++e;
    // \s+(?!\S): leave the last space of a run for the next word; \s+ otherwise.
    const size_t end = (e < n && e - i >= 2) ? e - 1 : e;
    out.push_back(s.substr(i, end - i));
    i = end;
  }
}

// The Split regex of Qwen2 (max_digits 1) and Llama 3 (max_digits 3) tokenizers, scanned by
// hand (no regex engine in the verifier); each alternative tried in order like the regex:
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*
//   |\s*[\r\n]+|\s+(?!\S)|\s+
void qwen_split(const std::u32string& s, size_t max_digits, Words& out) {
  // regex \s is Unicode White_Space, a few more than the BERT whitespace of uni:: (whose
  // is_letter would take the line and paragraph separators U+2028/9 for letters)
  auto space = [](char32_t c) {
    return uni::is_whitespace(c) || c == 0x0B || c == 0x0C || c == 0x85 || c == 0x2028 ||
           c == 0x2029;
  };
  auto letter = [&](char32_t c) { return !space(c) && uni::is_letter(c); };
  auto number = [](char32_t c) { return uni::is_number(c); };
  auto other = [&](char32_t c) { return !letter(c) && !number(c) && !space(c); };
  auto newline = [](char32_t c) { return c == '\r' || c == '\n'; };
  auto lower = [](char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    if (s[i] == '\'' && i + 1 < n) {
      static const std::u32string k_contractions[] = {U"re", U"ve", U"ll", U"s", U"t", U"m", U"d"};
      for (const auto& c : k_contractions) {
        bool hit = i + 1 + c.size() <= n;
        for (size_t k = 0; hit && k < c.size(); ++k) hit = lower(s[i + 1 + k]) == c[k];
        if (hit) {
          j = i + 1 + c.size();
          break;
        }
      }
    }
    if (j == i &&
        (letter(s[i]) || (i + 1 < n && !newline(s[i]) && !number(s[i]) && letter(s[i + 1])))) {
      j = letter(s[i]) ? i : i + 1;
      while (j < n && letter(s[j])) ++j;
    } else if (j == i && number(s[i])) {
      while (j < n && j - i < max_digits && number(s[j])) ++j;
    } else if (j == i && (other(s[i]) || (s[i] == ' ' && i + 1 < n && other(s[i + 1])))) {
      j = s[i] == ' ' ? i + 1 : i;
      while (j < n && other(s[j])) ++j;
      while (j < n && newline(s[j])) ++j;
    } else if (j == i) {  // whitespace
      size_t e = i;
      while (e < n && space(s[e])) ++e;
      size_t last_nl = e;
      for (size_t k = i; k < e; ++k)
        if (newline(s[k])) last_nl = k;
      if (last_nl != e)
        j = last_nl + 1;  // \s*[\r\n]+
      else if (e == n || e - i == 1)
        j = e;  // \s+(?!\S) at the end, or \s+
      else
        j = e - 1;  // leave one space for the next word
    }
    out.push_back(s.substr(i, j - i));
    i = j;
  }
}

struct QwenSplitPre final : PreTokenizerStep {
  size_t max_digits = 1;
  void apply(Words& words) const override {
    Words out;
    for (const auto& w : words) qwen_split(w, max_digits, out);
    words = std::move(out);
  }
};

struct ByteLevelPre final : PreTokenizerStep {
  bool add_prefix_space = true, use_regex = true;
  void apply(Words& words) const override {
    Words split;
    for (auto w : words) {
      if (add_prefix_space && !w.empty() && w[0] != ' ') w.insert(w.begin(), U' ');
      if (use_regex)
        gpt2_split(w, split);
      else
        split.push_back(w);
    }
    words.clear();
    for (const auto& piece : split) {
      std::u32string mapped;
      for (unsigned char b : uni::encode(piece)) mapped.push_back(byte_to_unicode(b));
      words.push_back(std::move(mapped));
    }
  }
};

struct MetaspacePre final : PreTokenizerStep {
  char32_t replacement = 0x2581;
  bool prepend = true, split = true;
  void apply(Words& words) const override {
    Words out;
    for (auto w : words) {
      for (char32_t& c : w)
        if (c == ' ') c = replacement;
      if (prepend && !w.empty() && w[0] != replacement) w.insert(w.begin(), replacement);
      if (!split) {
        out.push_back(std::move(w));
        continue;
      }
      std::u32string cur;  // each piece starts at a replacement char (MergedWithNext)
      for (char32_t c : w) {
        if (c == replacement && !cur.empty()) out.push_back(std::move(cur)), cur.clear();
        cur.push_back(c);
      }
      if (!cur.empty()) out.push_back(std::move(cur));
    }
    words = std::move(out);
  }
};

Status add_pre(const json& j, std::vector<std::unique_ptr<PreTokenizerStep>>& out) {
  if (j.is_null()) return {};
  const std::string t = type_of(j);
  if (t == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      return malformed("pre_tokenizer Sequence");
    for (const auto& p : j["pretokenizers"]) MB_TRY(add_pre(p, out));
  } else if (t == "BertPreTokenizer") {
    out.push_back(std::make_unique<BertPre>());
  } else if (t == "WhitespaceSplit") {
    out.push_back(std::make_unique<WhitespaceSplit>());
  } else if (t == "Whitespace") {
    out.push_back(std::make_unique<WhitespacePre>());
  } else if (t == "Punctuation") {
    out.push_back(std::make_unique<PunctuationPre>());
  } else if (t == "Digits") {
    MB_ASSIGN(const bool individual, bool_field(j, "individual_digits", false, k_file));
    if (!individual) return unsupported("pre_tokenizer", "Digits (grouped)");
    out.push_back(std::make_unique<DigitsPre>());
  } else if (t == "Split") {
    // Only the two patterns decoder LLM tokenizers ship (Qwen2, Llama 3), matched literally.
    static const std::string k_head =
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}";
    static const std::string k_tail =
        "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const json& pattern = sub(j, "pattern");
    const std::string re =
        pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()
            ? pattern["Regex"].get<std::string>()
            : "";
    MB_ASSIGN(const std::string behavior, string_field(j, "behavior", "", k_file));
    MB_ASSIGN(const bool invert, bool_field(j, "invert", false, k_file));
    const bool isolated = behavior == "Isolated" && !invert;
    if (isolated && (re == k_head + k_tail || re == k_head + "{1,3}" + k_tail)) {
      auto p = std::make_unique<QwenSplitPre>();
      p->max_digits = re == k_head + k_tail ? 1 : 3;
      out.push_back(std::move(p));
    } else {
      return unsupported("pre_tokenizer",
                         "Split with pattern " + describe_json(sub(pattern, "Regex")));
    }
  } else if (t == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPre>();
    MB_ASSIGN(p->add_prefix_space, bool_field(j, "add_prefix_space", true, k_file));
    MB_ASSIGN(p->use_regex, bool_field(j, "use_regex", true, k_file));
    out.push_back(std::move(p));
  } else if (t == "Metaspace") {
    auto p = std::make_unique<MetaspacePre>();
    MB_ASSIGN(const std::string replacement,
              string_field(j, "replacement", "\xe2\x96\x81", k_file));
    const std::u32string r = uni::decode(replacement);
    if (r.size() != 1) return malformed("Metaspace replacement is not one character");
    p->replacement = r[0];
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      p->prepend = j["prepend_scheme"].get<std::string>() != "never";
    } else {
      MB_ASSIGN(p->prepend, bool_field(j, "add_prefix_space", true, k_file));
    }
    MB_ASSIGN(p->split, bool_field(j, "split", true, k_file));
    out.push_back(std::move(p));
  } else {
    return unsupported("pre_tokenizer", t.empty() ? "(none)" : t);
  }
  return {};
}

Result<int32_t> special_id(const json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
    return malformed("post_processor special token is not [token, id]");
  return pair[1].get<int32_t>();
}

Status add_post(const json& j, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  if (j.is_null()) return {};
  const std::string t = type_of(j);
  if (t == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array())
      return malformed("post_processor Sequence");
    for (const auto& p : j["processors"]) MB_TRY(add_post(p, prefix, suffix));
  } else if (t == "ByteLevel") {
    // Only adjusts offsets.
  } else if (t == "BertProcessing" || t == "RobertaProcessing") {
    if (!j.contains("cls") || !j.contains("sep")) return malformed(t + " without cls/sep");
    MB_ASSIGN(int32_t cls, special_id(j["cls"]));
    MB_ASSIGN(int32_t sep, special_id(j["sep"]));
    prefix = {cls};
    suffix = {sep};
  } else if (t == "TemplateProcessing") {
    if (!j.contains("single") || !j["single"].is_array())
      return malformed("TemplateProcessing without single");
    const json& specials = sub(j, "special_tokens");
    prefix.clear();
    suffix.clear();
    bool seen_sequence = false;
    for (const auto& item : j["single"]) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      if (!item.contains("SpecialToken") || !item["SpecialToken"].contains("id") ||
          !item["SpecialToken"]["id"].is_string())
        return malformed("TemplateProcessing item is neither Sequence nor SpecialToken");
      const std::string name = item["SpecialToken"]["id"].get<std::string>();
      if (!specials.contains(name) || !specials[name].contains("ids") ||
          !specials[name]["ids"].is_array())
        return malformed("TemplateProcessing special token '" + name + "' has no ids");
      for (const auto& id : specials[name]["ids"]) {
        if (!id.is_number_integer()) return malformed("TemplateProcessing id is not an integer");
        (seen_sequence ? suffix : prefix).push_back(id.get<int32_t>());
      }
    }
  } else {
    return unsupported("post_processor", t.empty() ? "(none)" : t);
  }
  return {};
}

}  // namespace

std::vector<std::string> split_llama3_style(const std::string& text, int max_digits) {
  Words pieces;
  qwen_split(uni::decode(text), static_cast<size_t>(std::max(1, max_digits)), pieces);
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (const auto& p : pieces) out.push_back(uni::encode(p));
  return out;
}

char32_t byte_to_unicode(uint8_t b) {
  // Printable bytes map to themselves; the others to U+0100 + n in byte order.
  auto printable = [](int x) {
    return (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
  };
  if (printable(b)) return b;
  int n = 0;
  for (int x = 0; x < b; ++x)
    if (!printable(x)) ++n;
  return static_cast<char32_t>(256 + n);
}

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Result<Tokenizer> Tokenizer::from_json(const std::string& text) {
  MB_ASSIGN(json j, parse_model_json(text, k_file));
  if (!j.is_object()) return malformed("not a JSON object");
  if (!j.contains("model")) return malformed("no \"model\"");
  Tokenizer t;
  MB_TRY(add_normalizer(sub(j, "normalizer"), t.m_norm));
  MB_TRY(add_pre(sub(j, "pre_tokenizer"), t.m_pre));
  MB_ASSIGN(t.m_model, make_token_model(j["model"]));
  MB_TRY(add_post(sub(j, "post_processor"), t.m_prefix, t.m_suffix));
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& a : j["added_tokens"]) {
      if (a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
          a["content"].is_string())
        t.m_added[a["content"].get<std::string>()] = a["id"].get<int32_t>();
    }
  }
  if (const json* max = find_field(sub(j, "truncation"), "max_length")) {
    if (!max->is_number_unsigned())
      return malformed("truncation \"max_length\" must be a non-negative integer, not " +
                       describe_json(*max));
    t.m_trunc_max = max->get<size_t>();
  }
  return t;
}

std::vector<std::string> Tokenizer::pre_tokenize(const std::string& text) const {
  std::u32string s = uni::decode(text);
  for (const auto& n : m_norm) n->apply(s);
  Words words{s};
  for (const auto& p : m_pre) p->apply(words);
  std::vector<std::string> out;
  for (const auto& w : words)
    if (!w.empty()) out.push_back(uni::encode(w));
  return out;
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, size_t max_length) const {
  std::vector<int32_t> content;
  for (const auto& w : pre_tokenize(text)) m_model->encode_word(w, content);
  size_t limit = max_length;
  if (m_trunc_max > 0 && (limit == 0 || m_trunc_max < limit)) limit = m_trunc_max;
  const size_t specials = m_prefix.size() + m_suffix.size();
  if (limit > 0) content.resize(std::min(content.size(), limit > specials ? limit - specials : 0));
  std::vector<int32_t> ids = m_prefix;
  ids.insert(ids.end(), content.begin(), content.end());
  ids.insert(ids.end(), m_suffix.begin(), m_suffix.end());
  return ids;
}

size_t Tokenizer::vocab_size() const {
  size_t n = m_model->vocab_size();
  for (const auto& [k, id] : m_added) n = std::max(n, static_cast<size_t>(id) + 1);
  return n;
}

}  // namespace mb::infer
