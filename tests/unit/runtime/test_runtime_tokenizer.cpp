// Tokenizer pipelines against ids worked out by hand from the small vocabularies below.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/tokenizers/tokenizer.hpp"
#include "runtime/tokenizers/unicode.hpp"

namespace mb::infer {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

json bert_json(int max_chars = 100) {
  json vocab = {{"[PAD]", 0},
                {"[UNK]", 1},
                {"[CLS]", 2},
                {"[SEP]", 3},
                {"hello", 4},
                {",", 5},
                {"world", 6},
                {"!", 7},
                {"cafe", 8},
                {"un", 9},
                {"##aff", 10},
                {"##able", 11},
                {"\xe4\xb8\xad", 12},
                {"\xe6\x96\x87", 13},
                {"naive", 14},
                {".", 15},
                {"a", 16},
                {"##b", 17}};
  return {{"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", true},
            {"strip_accents", nullptr},
            {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                                    {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                    {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}}})},
            {"special_tokens",
             {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}}},
              {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}}}}}}},
          {"model",
           {{"type", "WordPiece"},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", max_chars},
            {"vocab", vocab}}}};
}

Tokenizer load(const json& j) {
  auto t = Tokenizer::from_json(j.dump());
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
  return std::move(*t);
}

TEST(InferTokenizer, BertPunctuationAndCase) {
  Tokenizer t = load(bert_json());
  EXPECT_EQ(t.encode("Hello, World!", 0), (Ids{2, 4, 5, 6, 7, 3}));
  EXPECT_EQ(t.encode("hello\tworld\n", 0), (Ids{2, 4, 6, 3}));
  EXPECT_STREQ(t.model_kind(), "WordPiece");
}

TEST(InferTokenizer, BertStripsAccents) {
  Tokenizer t = load(bert_json());
  // "Café naïve" -> "cafe naive"
  EXPECT_EQ(t.encode("Caf\xc3\xa9 na\xc3\xafve", 0), (Ids{2, 8, 14, 3}));
  // Decomposed form: e + U+0301 combining acute.
  EXPECT_EQ(t.encode("Cafe\xcc\x81", 0), (Ids{2, 8, 3}));
}

TEST(InferTokenizer, BertSpacesCjkCharacters) {
  Tokenizer t = load(bert_json());
  EXPECT_EQ(t.encode("\xe4\xb8\xad\xe6\x96\x87hello", 0), (Ids{2, 12, 13, 4, 3}));
}

TEST(InferTokenizer, BertWordPiecesAndUnknownWords) {
  Tokenizer t = load(bert_json());
  EXPECT_EQ(t.encode("unaffable", 0), (Ids{2, 9, 10, 11, 3}));
  EXPECT_EQ(t.encode("ab", 0), (Ids{2, 16, 17, 3}));
  EXPECT_EQ(t.encode("abz", 0), (Ids{2, 1, 3}));  // one unmatched piece: the whole word is [UNK]
  EXPECT_EQ(t.encode("xyz hello", 0), (Ids{2, 1, 4, 3}));
  Tokenizer short_words = load(bert_json(5));
  EXPECT_EQ(short_words.encode("unaffable", 0),
            (Ids{2, 1, 3}));  // longer than max_input_chars_per_word
}

TEST(InferTokenizer, TruncatesContentKeepingSpecialTokens) {
  Tokenizer t = load(bert_json());
  EXPECT_EQ(t.encode("hello world hello world hello", 4), (Ids{2, 4, 6, 3}));
  json j = bert_json();
  j["truncation"] = {{"max_length", 3}};
  Tokenizer tr = load(j);
  EXPECT_EQ(tr.encode("hello world hello", 0), (Ids{2, 4, 3}));
  EXPECT_EQ(tr.encode("hello world hello", 10), (Ids{2, 4, 3}));  // the smaller limit wins
}

json roberta_json() {
  const std::string G = "\xc4\xa0";  // U+0120, the byte-level space
  json vocab = {{"<s>", 0},    {"<pad>", 1}, {"</s>", 2},    {"h", 3},     {"e", 4},
                {"l", 5},      {"o", 6},     {G, 7},         {"w", 8},     {"r", 9},
                {"d", 10},     {"he", 11},   {"ll", 12},     {"hell", 13}, {"hello", 14},
                {G + "w", 15}, {"or", 16},   {G + "wor", 17}};
  json merges = {"h e", "l l", "he ll", "hell o", G + " w", "o r", G + "w or"};
  return {
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "RobertaProcessing"}, {"sep", {"</s>", 2}}, {"cls", {"<s>", 0}}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

TEST(InferTokenizer, ByteLevelBpeAppliesMergesByRank) {
  Tokenizer t = load(roberta_json());
  // "hello" merges fully; " world" -> Ġwor + l + d.
  EXPECT_EQ(t.encode("hello world", 0), (Ids{0, 14, 17, 5, 10, 2}));
  // Same merges given as [a, b] pairs (newer tokenizer.json files).
  json j = roberta_json();
  json pairs = json::array();
  for (const auto& m : j["model"]["merges"]) {
    const std::string s = m.get<std::string>();
    pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = pairs;
  EXPECT_EQ(load(j).encode("hello world", 0), (Ids{0, 14, 17, 5, 10, 2}));
}

TEST(InferTokenizer, Gpt2SplitAndByteMap) {
  Tokenizer t = load(roberta_json());
  const std::string G = "\xc4\xa0";
  EXPECT_EQ(t.pre_tokenize("Hello  world 42!"),
            (std::vector<std::string>{"Hello", G, G + "world", G + "42", "!"}));
  EXPECT_EQ(t.pre_tokenize("it's"), (std::vector<std::string>{"it", "'s"}));
  EXPECT_EQ(byte_to_unicode(' '), U'\u0120');
  EXPECT_EQ(byte_to_unicode('A'), U'A');
  EXPECT_EQ(byte_to_unicode(0), U'\u0100');
  EXPECT_EQ(byte_to_unicode(0xad), U'\u0143');
}

json unigram_json() {
  const std::string M = "\xe2\x96\x81";  // U+2581
  json pieces = json::array({{"<s>", 0.0},
                             {"<pad>", 0.0},
                             {"</s>", 0.0},
                             {"<unk>", 0.0},
                             {M + "hello", -1.0},
                             {M, -2.0},
                             {"h", -3.0},
                             {"e", -3.0},
                             {"l", -3.0},
                             {"o", -3.0},
                             {M + "he", -2.0},
                             {"llo", -2.0},
                             {M + "wor", -2.5},
                             {"ld", -2.5},
                             {"w", -3.0},
                             {"r", -3.0},
                             {"d", -3.0}});
  return {
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         json::array(
             {{{"type", "Precompiled"}, {"precompiled_charsmap", ""}},
              {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}})}}},
      {"pre_tokenizer",
       {{"type", "Metaspace"}, {"replacement", M}, {"prepend_scheme", "always"}, {"split", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                {{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}})},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {0}}}}, {"</s>", {{"id", "</s>"}, {"ids", {2}}}}}}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 3}, {"vocab", pieces}}}};
}

TEST(InferTokenizer, UnigramViterbiPicksBestSegmentation) {
  Tokenizer t = load(unigram_json());
  // ▁hello (-1) beats ▁he + llo (-4); ▁wor + ld (-5) beats single letters.
  EXPECT_EQ(t.encode("hello world", 0), (Ids{0, 4, 12, 13, 2}));
  // Runs of spaces collapse; unknown characters fuse into one <unk>.
  EXPECT_EQ(t.encode("hello   xyz", 0), (Ids{0, 4, 5, 3, 2}));
  EXPECT_STREQ(t.model_kind(), "Unigram");
}

TEST(InferTokenizer, RejectsUnsupportedComponentsByName) {
  json j = bert_json();
  j["pre_tokenizer"] = {{"type", "Split"}};
  auto t = Tokenizer::from_json(j.dump());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().category, ErrorCategory::usage);
  EXPECT_NE(t.error().message.find("Split"), std::string::npos);
  auto bad = Tokenizer::from_json("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": 3}}");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::integrity);
  EXPECT_FALSE(Tokenizer::from_json("not json").ok());
}

TEST(InferUnicode, ClassesAndCaseMapping) {
  EXPECT_EQ(uni::strip_accent(U'\u00e9'), U'e');
  EXPECT_EQ(uni::strip_accent(U'\u0141'), U'\u0141');  // Ł has no canonical decomposition
  std::u32string s;
  uni::append_lower(s, U'\u00c4');
  uni::append_lower(s, U'\u0410');
  EXPECT_EQ(s, U"\u00e4\u0430");
  EXPECT_TRUE(uni::is_punctuation(U'\u3002'));
  EXPECT_TRUE(uni::is_cjk(U'\u4e2d'));
  EXPECT_FALSE(uni::is_letter(U'!'));
  EXPECT_EQ(uni::decode("a\xff"), U"a\ufffd");
  EXPECT_EQ(uni::encode(U"\u4e2d"), "\xe4\xb8\xad");
}

// The Split pre-tokenizer of Qwen2 (\p{N} one digit at a time) and Llama 3 (\p{N}{1,3}),
// recognised by its exact pattern; splits worked out by hand from the regex alternatives.
json split_json(bool llama3) {
  const std::string re =
      std::string("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}") +
      (llama3 ? "{1,3}" : "") + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  json j = roberta_json();
  j["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
  return j;
}

TEST(InferTokenizer, QwenAndLlama3SplitPatterns) {
  using V = std::vector<std::string>;
  const std::string text = "Hello world's 1234 ok!!\n\n  x\tY'LL a \n b";
  EXPECT_EQ(load(split_json(false)).pre_tokenize(text),
            (V{"Hello", " world", "'s", " ", "1", "2", "3", "4", " ok", "!!\n\n", " ", " x", "\tY",
               "'LL", " a", " \n", " b"}));
  EXPECT_EQ(load(split_json(true)).pre_tokenize("x 12345 "), (V{"x", " ", "123", "45", " "}));
  EXPECT_EQ(load(split_json(false)).pre_tokenize("a\n  y"), (V{"a", "\n", " ", " y"}));
  // Any other pattern is refused by name, not approximated.
  json other = split_json(false);
  other["pre_tokenizer"]["pattern"]["Regex"] = "\\s+";
  auto r = Tokenizer::from_json(other.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::usage);
  EXPECT_NE(r.error().message.find("Split with pattern"), std::string::npos);
}

}  // namespace
}  // namespace mb::infer
