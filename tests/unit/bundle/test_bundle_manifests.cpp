// Every ready-made manifest in manifests/ parses with the real parser and keeps only what a
// loader needs: one weight format (safetensors, or a single GGUF quantisation), no ONNX,
// OpenVINO, PyTorch .bin, TF .h5, Rust .ot or Flax copies. Each has its Dockerfile in docker/.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/file.hpp"
#include "manifest/manifest.hpp"
#include "manifest/patterns.hpp"

namespace mb {
namespace {

namespace fs = std::filesystem;

fs::path source_root() { return fs::path(MB_SOURCE_ROOT); }

std::vector<fs::path> manifest_files() {
  std::vector<fs::path> out;
  for (const auto& d : fs::directory_iterator(source_root() / "manifests")) {
    if (d.is_directory() && fs::exists(d.path() / "modelbake.yaml"))
      out.push_back(d.path() / "modelbake.yaml");
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Files a typical hub repo carries besides what the loader needs.
const std::vector<std::string> k_duplicate_weights = {"pytorch_model.bin",
                                                      "pytorch_model-00001-of-00002.bin",
                                                      "tf_model.h5",
                                                      "rust_model.ot",
                                                      "flax_model.msgpack",
                                                      "onnx/model.onnx",
                                                      "onnx/model_qint8_avx512.onnx",
                                                      "model.onnx",
                                                      "openvino/openvino_model.bin",
                                                      "openvino/openvino_model.xml"};

TEST(BundleManifests, FiveServicesAreShipped) {
  auto files = manifest_files();
  std::vector<std::string> names;
  for (const auto& f : files) names.push_back(f.parent_path().filename().string());
  EXPECT_EQ(names, (std::vector<std::string>{"embedder", "llm-gguf", "rag",
                                             "retriever-multilingual", "sentiment"}));
}

TEST(BundleManifests, EveryManifestLoadsAndKeepsOneWeightFormat) {
  for (const auto& path : manifest_files()) {
    SCOPED_TRACE(path.string());
    auto m = load_manifest(path.string());
    ASSERT_TRUE(m.ok()) << m.error().describe();
    ASSERT_FALSE(m->models.empty());
    for (const auto& model : m->models) {
      SCOPED_TRACE(model.repo);
      ASSERT_FALSE(model.include.empty()) << "an empty include takes every file of the repo";
      bool gguf = model.repo.find("GGUF") != std::string::npos ||
                  model.repo.find("gguf") != std::string::npos;
      if (gguf) {
        // Exactly one quantisation: a GGUF repo holds a dozen copies of the same weights.
        int kept = 0;
        for (const char* q : {"x-q2_k.gguf", "x-q4_k_m.gguf", "x-q8_0.gguf", "x-fp16.gguf"}) {
          kept += path_selected(model.include, model.exclude, q) ? 1 : 0;
        }
        EXPECT_LE(kept, 1);
        ASSERT_EQ(model.include.size(), 1u);
        EXPECT_TRUE(model.include[0].ends_with(".gguf"));
        EXPECT_EQ(model.include[0].find_first_of("*?["), std::string::npos);
        continue;
      }
      EXPECT_TRUE(path_selected(model.include, model.exclude, "model.safetensors"));
      EXPECT_TRUE(path_selected(model.include, model.exclude, "config.json"));
      EXPECT_TRUE(path_selected(model.include, model.exclude, "tokenizer.json"));
      for (const auto& dup : k_duplicate_weights) {
        EXPECT_FALSE(path_selected(model.include, model.exclude, dup))
            << dup << " would be baked too";
      }
    }
  }
}

TEST(BundleManifests, SentenceTransformersModelsKeepTheirPoolingConfig) {
  for (const char* svc : {"embedder", "rag", "retriever-multilingual"}) {
    auto m = load_manifest((source_root() / "manifests" / svc / "modelbake.yaml").string());
    ASSERT_TRUE(m.ok()) << svc;
    const auto& first = m->models.front();
    EXPECT_TRUE(path_selected(first.include, first.exclude, "1_Pooling/config.json")) << svc;
    EXPECT_TRUE(path_selected(first.include, first.exclude, "modules.json")) << svc;
  }
}

TEST(BundleManifests, EachHasAMultiStageDockerfile) {
  for (const auto& path : manifest_files()) {
    std::string svc = path.parent_path().filename().string();
    SCOPED_TRACE(svc);
    auto text = read_file((source_root() / "docker" / (svc + ".Dockerfile")).string());
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text->find("COPY manifests/" + svc + "/modelbake.yaml"), std::string::npos);
    EXPECT_NE(text->find("modelbake fetch --locked"), std::string::npos);
    EXPECT_NE(text->find("modelbake export"), std::string::npos);
    EXPECT_NE(text->find("COPY --from=models /out/models /models"), std::string::npos);
    EXPECT_NE(text->find("/usr/local/bin/modelbake-verify"), std::string::npos);
    EXPECT_NE(text->find("HF_HUB_OFFLINE=1"), std::string::npos);
    EXPECT_NE(text->find("HEALTHCHECK"), std::string::npos);
  }
}

}  // namespace
}  // namespace mb
