// Decoder-only LLM weights from a GGUF file (llama.cpp's format), architectures `llama`
// (Llama, Mistral) and `qwen2`. Matrices stay in the memory-mapped file in their ggml type
// (F32, F16, Q8_0, Q4_0, Q4_K, Q6_K) behind QuantMatrix. Every dimension, type and byte range
// is checked against the metadata and the file: a hostile file fails with category integrity,
// a valid file using something unsupported (another architecture, Q5_K, YaRN) with usage.
//
// RoPE layout: llama.cpp's converter permutes the Q and K rows of arch `llama` from HF's
// rotate_half order to interleaved pairs; the loader undoes it with a row remap (no copy), so
// the decoder sees HF order for both architectures (`qwen2` is stored unpermuted).
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "runtime/decoder/decoder_weights.hpp"
#include "runtime/formats/gguf.hpp"
#include "runtime/model/weights.hpp"
#include "runtime/tokenizers/gguf_tokenizer.hpp"

namespace mb::infer {

// `file` is the whole GGUF file, `info` its parse_gguf result. The matrices keep `file`
// alive.
Result<DecoderWeights> load_decoder_gguf(std::shared_ptr<const MappedFile> file,
                                         const runtime::GgufInfo& info);
// Maps and parses `path`, then loads as above.
Result<DecoderWeights> load_decoder_gguf(const std::string& path);

// Everything --infer needs from one GGUF file: the weights and the embedded tokenizer.
struct GgufModel {
  std::shared_ptr<const MappedFile> file;  // also kept alive by the matrices
  runtime::GgufInfo info;
  DecoderWeights weights;
  GgufTokenizer tokenizer;
};
Result<GgufModel> open_gguf_model(const std::string& path);
// The same from a file already mapped (modelbake-verify maps it confined to ROOT).
Result<GgufModel> open_gguf_model(MappedFile file);

// The decoder configuration the metadata describes, without touching tensor data: what the
// memory budget needs before loading. Errors as load_decoder_gguf.
Result<DecoderConfig> gguf_decoder_config(const runtime::GgufInfo& info);

// The ggml type names of the weights, e.g. "Q4_K+Q6_K+F32" (distinct, in first-use order).
std::string gguf_weight_types(const DecoderWeights& w);

}  // namespace mb::infer
