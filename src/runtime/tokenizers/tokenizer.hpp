// A Hugging Face `tokenizer.json` pipeline for encoding one text: normalizer ->
// pre-tokenizer -> model (WordPiece, byte-level BPE, Unigram) -> post-processor (special
// tokens), with truncation. Only the components BERT-family checkpoints use are supported;
// anything else is reported by name so the caller can skip inference instead of guessing.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"

namespace mb::infer {

// The model step: turns one pre-tokenized word (UTF-8) into ids.
class TokenModel {
 public:
  virtual ~TokenModel() = default;
  virtual void encode_word(const std::string& word, std::vector<int32_t>& out) const = 0;
  virtual int32_t token_to_id(const std::string& token) const = 0;  // -1 when absent
  virtual size_t vocab_size() const = 0;                            // highest id + 1
  virtual const char* kind() const = 0;
};

struct NormalizerStep;    // tokenizer.cpp
struct PreTokenizerStep;  // tokenizer.cpp

class Tokenizer {
 public:
  // Parses tokenizer.json. Unsupported component types fail with category usage and a message
  // naming the component ("unsupported tokenizer pre_tokenizer type Split").
  static Result<Tokenizer> from_json(const std::string& json_text);
  Tokenizer();
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Ids of `text` with the special tokens of the post-processor. The content is truncated so
  // the total stays within `max_length` (0: only the tokenizer's own truncation applies).
  std::vector<int32_t> encode(const std::string& text, size_t max_length) const;

  // The normalized, pre-tokenized words (for tests and diagnostics).
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  size_t vocab_size() const;  // model vocabulary plus added tokens
  const char* model_kind() const { return m_model->kind(); }

 private:
  std::vector<std::unique_ptr<NormalizerStep>> m_norm;
  std::vector<std::unique_ptr<PreTokenizerStep>> m_pre;
  std::unique_ptr<TokenModel> m_model;
  std::vector<int32_t> m_prefix, m_suffix;  // special tokens around a single sequence
  std::unordered_map<std::string, int32_t> m_added;
  size_t m_trunc_max = 0;
};

// Models, implemented in tok_models.cpp, from the "model" object of tokenizer.json.
Result<std::unique_ptr<TokenModel>> make_token_model(const nlohmann::json& model);

// GPT-2 byte-to-unicode mapping used by byte-level BPE (public for tests).
char32_t byte_to_unicode(uint8_t b);

// The pre-tokenizer split of Llama 3 (`max_digits` 3) and Qwen2 (1), as tokenizer.json's
// Split pattern and GGUF's tokenizer.ggml.pre (llama-bpe, qwen2) name it: case-insensitive
// contractions, letters with one leading non-letter, digit runs of at most `max_digits`,
// punctuation runs with trailing newlines, whitespace runs. Both tokenizers use this one scan.
std::vector<std::string> split_llama3_style(const std::string& text, int max_digits);

}  // namespace mb::infer
