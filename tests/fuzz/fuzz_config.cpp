// libFuzzer target: config.json and the lock's expect block as modelbake-verify --infer reads
// them (encoder and decoder configs, expectations). Any input must end in a Result, never a
// crash or an exception (issue 23 item 7).
#include <string>

#include "runtime/decoder/decoder_safetensors.hpp"
#include "runtime/encoder/encoder.hpp"
#include "runtime/probe/decoder_probe.hpp"
#include "runtime/probe/expect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string unsupported;
  (void)mb::infer::parse_encoder_config(text, &unsupported);
  (void)mb::infer::is_decoder_config(text);
  (void)mb::infer::parse_decoder_config(text);
  (void)mb::infer::parse_expectations(text);
  return 0;
}
