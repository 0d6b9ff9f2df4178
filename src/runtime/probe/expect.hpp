// The `expect` block of a lock entry, checked against the probe output. Schema (JSON; all
// keys optional, unknown keys rejected) in docs/inference.md:
//   {"dim": 384,
//    "probe_text": "text to embed",
//    "similar":    [{"a": "text", "b": "text", "min_cosine": 0.5}],
//    "dissimilar": [{"a": "text", "b": "text", "max_cosine": 0.3}],
//    "reference":  {"text": "text", "values": [0.01, -0.2], "tolerance": 1e-3},
//    "top_label":  "POSITIVE",
//    "generated_ids": [5, 9], "generated_text": " the", "new_tokens": 8}   (decoder LLMs)
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "runtime/probe/probe.hpp"

namespace mb::infer {

struct CosinePair {
  std::string a, b;
  double bound = 0;
};

struct Expectations {
  std::optional<int> dim;
  std::string probe_text;  // explicit probe_text, else reference.text, else empty (default)
  std::vector<CosinePair> similar, dissimilar;
  bool has_reference = false;
  std::string reference_text;
  std::vector<double> reference_values;
  double tolerance = 1e-3;
  std::string top_label;
  // Decoder-only LLMs: the greedy continuation of the probe text.
  std::optional<std::vector<int32_t>> generated_ids;
  std::optional<std::string> generated_text;
  int new_tokens = 8;  // how many tokens to generate
  bool has_new_tokens = false;
};

// Empty text means no expectations. A malformed block fails with category usage.
Result<Expectations> parse_expectations(const std::string& json_text);

using EmbedFn = std::function<Result<std::vector<float>>(const std::string&)>;

// Appends one line per failed expectation to r.expectation_failures; `embed` runs further
// texts (cosine pairs, a reference text other than the probe text). `dim` and `reference`
// apply to r.output whatever it is: an embedding, classification or next-token logits.
Status check_expectations(const Expectations& e, ProbeResult& r, const EmbedFn& embed);

// Keys that cannot apply to the model's output are refused (usage), so that no check is
// silently skipped: similar/dissimilar/top_label for decoder LLMs (their output is next-token
// logits, not an embedding or a label), generated_ids/generated_text/new_tokens for encoders.
Status check_applicable(const Expectations& e, bool decoder);

// Decoder LLMs: generated_ids / generated_text against r.generated_*.
void check_generation(const Expectations& e, ProbeResult& r);

double cosine(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace mb::infer
