// libFuzzer target: tokenizer.json as modelbake-verify --infer reads it (the encoder/decoder
// tokenizer pipeline and the decoder-side TokenDecoder). Any input must end in a Result, never
// a crash, an exception or an allocation the input sizes (issue 23 items 5 and 7).
#include <string>

#include "runtime/probe/decoder_probe.hpp"
#include "runtime/tokenizers/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tok = mb::infer::Tokenizer::from_json(text);
  if (tok.ok()) (void)tok->encode("Hello, world! h\xc3\xa9llo  42 the cat", 64);
  auto dec = mb::infer::TokenDecoder::from_json(text);
  if (dec.ok()) (void)dec->decode({0, 1, 2, 3, 5, 8, 13, 21, 34, 55});
  return 0;
}
