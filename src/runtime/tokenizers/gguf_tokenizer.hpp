// The tokenizer a GGUF file embeds (tokenizer.ggml.*), as the inference engine's Tokenizer:
// - model "gpt2" (Qwen2, Llama 3: byte-level BPE): tokens + merges, GPT-2 byte-to-unicode
//   mapping, the split regex chosen by tokenizer.ggml.pre (gpt2, qwen2, llama-bpe);
// - model "llama" (sentencepiece BPE, Llama/Mistral): tokens + scores, spaces as U+2581, a
//   leading U+2581 (tokenizer.ggml.add_space_prefix, default true), byte fallback through the
//   <0xXX> tokens. Merges are derived from the scores as transformers' converter does (a
//   pair (a, b) ranks by the score of the piece a+b), so encoding matches llama.cpp's
//   highest-score-first merging.
// The equivalent tokenizer.json is built in memory and parsed by Tokenizer::from_json, so the
// encoding code is shared with tokenizer.json models. Decoding is here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/formats/gguf.hpp"
#include "runtime/tokenizers/tokenizer.hpp"

namespace mb::infer {

class GgufTokenizer {
 public:
  // Fails with integrity on inconsistent arrays (token_type / scores of another length,
  // special ids out of range), with usage on another tokenizer model (bert, t5, rwkv...).
  static Result<GgufTokenizer> from_gguf(runtime::ByteSpan file, const runtime::GgufInfo& info);

  // Ids of `text`, BOS first when tokenizer.ggml.add_bos_token says so (default: true for
  // "llama", false for "gpt2"). Special-token text inside `text` is not recognised.
  std::vector<int32_t> encode(const std::string& text) const;
  // Text of `ids` as transformers' decode(ids, skip_special_tokens=True): control tokens are
  // dropped; for "llama" one leading space is stripped. Invalid ids are skipped.
  std::string decode(const std::vector<int32_t>& ids) const;

  const Tokenizer& tokenizer() const { return m_tok; }
  const std::string& model() const { return m_model; }  // "gpt2" or "llama"
  size_t vocab_size() const { return m_tokens.size(); }
  int32_t bos_token() const { return m_bos; }
  int32_t eos_token() const { return m_eos; }
  bool add_bos() const { return m_add_bos; }

 private:
  Tokenizer m_tok;
  std::string m_model;
  std::vector<std::string> m_tokens;
  std::vector<int32_t> m_types;  // llama.cpp token types: 1 normal, 2 unknown, 3 control, ...
  int32_t m_bos = -1, m_eos = -1;
  bool m_add_bos = false;
  int m_split_digits = 0;  // 0: GPT-2 split; else the Llama 3 / Qwen2 split, digit run limit
};

}  // namespace mb::infer
