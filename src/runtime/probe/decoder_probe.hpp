// modelbake-verify --infer for decoder-only LLMs: tokenize the probe text with the model's
// tokenizer.json, one forward pass (logits finite), N greedy tokens with the KV cache, decode
// them, check `expect`. Weights and tokenizer come from safetensors + config.json +
// tokenizer.json (run_decoder_probe) or from one GGUF file (run_gguf_probe).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "runtime/decoder/decoder_weights.hpp"
#include "runtime/probe/expect.hpp"
#include "runtime/probe/probe.hpp"

namespace mb::infer {

class ModelFiles;

// Prompt tokens beyond this are truncated; the KV cache holds this many positions plus the
// generated tokens (bounded by max_position_embeddings).
inline constexpr int k_decoder_prompt_tokens = 256;
int decoder_context(const DecoderConfig& c, int new_tokens);

// config.json text names a decoder-only architecture this engine runs.
bool is_decoder_config(const std::string& config_json);

// Turns generated ids back into text from tokenizer.json: byte-level BPE (GPT-2, Qwen2) or
// the SentencePiece-style BPE of Llama/Mistral (U+2581 for spaces, <0xNN> byte fallback).
// Special added tokens are skipped.
class TokenDecoder {
 public:
  static Result<TokenDecoder> from_json(const std::string& tokenizer_json);
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  struct Piece {
    std::string text;
    bool special = false;
  };
  // By id: a map, so that one hostile id (2^24) cannot size an allocation.
  std::unordered_map<int32_t, Piece> m_pieces;
  bool m_byte_level = false;
  bool m_strip_leading_space = false;
};

// Bytes the decoder probe allocates beyond the mapped tensor data (KV cache, activations,
// logits) for the model in `files` (safetensors + config.json, or GGUF metadata),
// so the memory budget can refuse it before loading. 0 when the model is not a decoder or its
// config.json / GGUF metadata is unreadable (the probe then reports why).
uint64_t decoder_probe_bytes(const ModelFiles& files, const std::string& expect_json);

// The GGUF file --infer runs in a model folder: the largest *.gguf directly in it when the
// folder has no safetensors weights (a llama.cpp bundle such as Qwen2.5-0.5B-Instruct-GGUF,
// with perhaps a README or config.json beside it); "" otherwise.
std::string gguf_model_file(const ModelFiles& files);

// The probe on that GGUF file (`rel`) with its embedded tokenizer. A file using something
// the engine does not run is a result with supported == false; a corrupt one an error.
Result<ProbeResult> run_gguf_probe(const ModelFiles& files, const std::string& rel,
                                   const Expectations& expect);

// Runs the whole probe on a model whose config.json is a decoder (is_decoder_config).
Result<ProbeResult> run_decoder_probe(const ModelFiles& files, const Expectations& expect,
                                      const std::string& config_json);

// How the probe turns text into ids and back, whatever the tokenizer (tokenizer.json here;
// the GGUF-embedded tokenizer for GGUF files). encode may truncate to max_tokens.
struct DecoderText {
  std::function<std::vector<int32_t>(const std::string&, size_t max_tokens)> encode;
  std::function<std::string(const std::vector<int32_t>&)> decode;
};

// The format-independent part of the probe, for any loader's DecoderWeights: tokenize the
// probe text, forward (logits finite), greedy generation, decode, `expect` checks. Fills
// `r` (supported, weight types, token/generated ids and text, timings, peak memory; adds to
// r.load_ms the KV cache set-up). A GGUF model runs through here too:
//   probe_decoder(model.weights, {encode via model.tokenizer, decode via it}, expect, r).
Status probe_decoder(const DecoderWeights& w, const DecoderText& text, const Expectations& expect,
                     ProbeResult& r);

// For bench/infer.sh: load once, then time the prompt pass and `new_tokens` greedy steps.
struct DecoderTiming {
  double load_ms = 0, first_token_ms = 0, tokens_per_s = 0;
  std::vector<int32_t> prompt_ids, generated_ids;
};
// `model_path`: a safetensors model folder, a .gguf file, or a folder holding one (the file
// gguf_model_file picks). `threads`: matvec threads (parallel.hpp).
Result<DecoderTiming> time_decoder(const std::string& model_path, const std::string& text,
                                   int new_tokens, int threads);

}  // namespace mb::infer
