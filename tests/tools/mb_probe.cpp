// Test/bench driver for the inference engine (src/runtime's engine folders): prints run_probe's
// result as JSON, or times forward passes. Not installed; modelbake-verify --infer is the product.
//   mb_probe MODEL_DIR [EXPECT_JSON]
//   mb_probe --time RUNS MODEL_DIR TEXT
//   mb_probe --decode NEW_TOKENS MODEL TEXT   (decoder LLMs: load, first-token, tokens/s;
//                                              MODEL: safetensors folder, .gguf file or a
//                                              folder holding one; threads from
//                                              MB_INFER_THREADS, default 1)
//   mb_probe --onnx FILE IDS_JSON [RUNS]      (the ONNX interpreter: first output and the
//                                              milliseconds of each run)
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/kernels/kernels.hpp"
#include "runtime/kernels/parallel.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/probe/decoder_probe.hpp"
#include "runtime/probe/onnx_probe.hpp"
#include "runtime/probe/probe.hpp"

namespace {

int run_onnx_file(const std::string& file, const std::string& ids_json, int runs) {
  const auto ids = nlohmann::json::parse(ids_json).get<std::vector<int32_t>>();
  const auto slash = file.rfind('/');
  mb::infer::ModelFiles files(slash == std::string::npos ? "." : file.substr(0, slash));
  auto out =
      mb::infer::run_onnx(files, file.substr(slash == std::string::npos ? 0 : slash + 1), ids);
  if (!out.ok()) {
    nlohmann::json j = {{"error", out.error().describe()},
                        {"category", mb::to_string(out.error().category)}};
    std::printf("%s\n", j.dump().c_str());
    return 1;
  }
  auto ms = mb::infer::time_onnx(file, ids, runs);
  if (!ms.ok()) return 1;
  nlohmann::json j = {
      {"name", out->name}, {"dims", out->shape}, {"data", out->values}, {"ms", *ms}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env_threads = std::getenv("MB_INFER_THREADS");
  const int threads = env_threads != nullptr ? std::atoi(env_threads) : 1;
  mb::infer::set_infer_threads(threads);
  if (argc >= 5 && std::string(argv[1]) == "--time") {
    auto ms = mb::infer::time_forward(argv[3], argv[4], std::atoi(argv[2]));
    if (!ms.ok()) {
      std::fprintf(stderr, "mb_probe: %s\n", ms.error().describe().c_str());
      return 1;
    }
    nlohmann::json j = {{"ms", *ms}, {"kernel", mb::infer::kernel_name()}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  if (argc >= 4 && std::string(argv[1]) == "--onnx")
    return run_onnx_file(argv[2], argv[3], argc >= 5 ? std::atoi(argv[4]) : 1);
  if (argc >= 5 && std::string(argv[1]) == "--decode") {
    auto t = mb::infer::time_decoder(argv[3], argv[4], std::atoi(argv[2]), threads);
    if (!t.ok()) {
      std::fprintf(stderr, "mb_probe: %s\n", t.error().describe().c_str());
      return 1;
    }
    nlohmann::json j = {{"load_ms", t->load_ms},
                        {"first_token_ms", t->first_token_ms},
                        {"tokens_per_s", t->tokens_per_s},
                        {"prompt_ids", t->prompt_ids},
                        {"generated_ids", t->generated_ids}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr,
                 "usage: mb_probe MODEL_DIR [EXPECT_JSON] | mb_probe --time RUNS MODEL_DIR TEXT\n");
    return 2;
  }
  auto r = mb::infer::run_probe(argv[1], argc == 3 ? argv[2] : "");
  if (!r.ok()) {
    nlohmann::json j = {{"error", r.error().describe()},
                        {"category", mb::to_string(r.error().category)}};
    std::printf("%s\n", j.dump().c_str());
    return 1;
  }
  const auto& p = *r;
  nlohmann::json j = {{"supported", p.supported},
                      {"unsupported_reason", p.unsupported_reason},
                      {"architecture", p.architecture},
                      {"model_type", p.model_type},
                      {"probe_text", p.probe_text},
                      {"token_ids", p.token_ids},
                      {"output_kind", p.output_kind},
                      {"output", p.output},
                      {"dimension", p.dimension},
                      {"pooling", p.pooling},
                      {"normalized", p.normalized},
                      {"top_label", p.top_label},
                      {"weight_dtype", p.weight_dtype},
                      {"load_ms", p.load_ms},
                      {"infer_ms", p.infer_ms},
                      {"expectation_failures", p.expectation_failures},
                      {"weight_types", p.weight_types},
                      {"generated_ids", p.generated_ids},
                      {"generated_text", p.generated_text},
                      {"first_token_ms", p.first_token_ms},
                      {"tokens_per_s", p.tokens_per_s},
                      {"peak_rss_bytes", p.peak_rss_bytes}};
  // Full float precision: the integration tests compare against PyTorch at 1e-4.
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}
