// Decoder-only LLM weights from Hugging Face safetensors + config.json (LlamaForCausalLM,
// Qwen2ForCausalLM, MistralForCausalLM). The matrices stay in the mapped files in their
// stored type (F32/F16/BF16) and are converted on the fly by Matrix::matvec, so loading costs
// no F32 copy of the model. Every dimension of config.json is bounded and every tensor shape
// is checked against it before anything is allocated.
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "runtime/decoder/decoder_weights.hpp"
#include "runtime/model/weights.hpp"

namespace mb::infer {

// True when config.json's architectures[0] names a decoder this engine runs (whatever the
// weight format); probe code uses it to choose the decoder path over the encoder path.
bool is_decoder_architecture(const std::string& architecture);

// config.json -> DecoderConfig. Broken or absurd values fail with category integrity; a
// valid configuration this engine does not implement (rope_scaling "yarn", attention_bias,
// another activation) fails with category usage, which the probe reports as "unsupported".
Result<DecoderConfig> parse_decoder_config(const std::string& config_json);

// Bytes the decoder allocates beyond the mapped weights for a context of `context` tokens:
// the KV cache, activations and the logits.
uint64_t decoder_runtime_bytes(const DecoderConfig& c, int context);

// A Matrix over one F32/F16/BF16 safetensors tensor; `weights` must outlive it.
Result<std::unique_ptr<Matrix>> make_tensor_matrix(const TensorView& t);

// Builds DecoderWeights from `weights` (which must outlive the result) and config.json.
Result<DecoderWeights> load_decoder_safetensors(const Weights& weights,
                                                const std::string& config_json);

}  // namespace mb::infer
