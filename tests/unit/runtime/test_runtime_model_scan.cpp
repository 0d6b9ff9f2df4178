#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "runtime/model_scan.hpp"
#include "support/temp_dir.hpp"
#include "unit/runtime/builders.hpp"

namespace mb::runtime {
namespace {

// One F32 tensor "w" of n elements, all 0.5 except `bad_index` (NaN) when >= 0.
std::string float_file(size_t n, long bad_index) {
  std::string data;
  for (size_t i = 0; i < n; ++i) {
    float v = static_cast<long>(i) == bad_index ? std::numeric_limits<float>::quiet_NaN() : 0.5f;
    test::put(data, v);
  }
  std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(n) +
                       R"(],"data_offsets":[0,)" + std::to_string(data.size()) + "]}}";
  return test::safetensors(header, data);
}

LockedModel lock_for(const std::string& dir, const std::vector<std::string>& paths) {
  LockedModel m;
  m.name = "m";
  for (const auto& p : paths) {
    auto content = read_file(dir + "/" + p);
    EXPECT_TRUE(content.ok()) << p;
    LockedFile f;
    f.path = p;
    f.size = content->size();
    f.sha256 = sha256_hex(*content);
    m.files.push_back(f);
  }
  return m;
}

TEST(ModelScan, ClassifiesFilesAndPicksPrimaryWeights) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path() + "/model.safetensors", float_file(4, -1)).ok());
  ASSERT_TRUE(write_file_atomic(dir.path() + "/config.json", R"({"model_type":"bert"})").ok());
  ASSERT_TRUE(write_file_atomic(dir.path() + "/vocab.txt", "a\nb\n").ok());
  test::ZipWriter z;
  z.add("archive/data.pkl", "x");
  z.add("archive/data/0", std::string(100, 'y'));
  ASSERT_TRUE(write_file_atomic(dir.path() + "/pytorch_model.bin", z.finish()).ok());
  auto scan = scan_model(dir.path(), lock_for(dir.path(), {"config.json", "model.safetensors",
                                                           "pytorch_model.bin", "vocab.txt"}));
  ASSERT_TRUE(scan.ok()) << scan.error().message;
  EXPECT_EQ(scan->files_checked, 3u);
  EXPECT_EQ(scan->unchecked, std::vector<std::string>{"vocab.txt"});
  ASSERT_EQ(scan->weights.size(), 2u);
  auto primary = scan->primary();
  ASSERT_EQ(primary.size(), 1u);
  EXPECT_EQ(primary[0]->format, "safetensors");  // preferred over the PyTorch checkpoint
  EXPECT_EQ(primary[0]->tensor_bytes, 16u);
  EXPECT_EQ(scan->find_json("config.json")->at("model_type"), "bert");
}

TEST(ModelScan, ErrorsNameTheFile) {
  test::TempDir dir;
  ASSERT_TRUE(write_file_atomic(dir.path() + "/pytorch_model.bin", "\x80\x02legacy pickle").ok());
  auto scan = scan_model(dir.path(), lock_for(dir.path(), {"pytorch_model.bin"}));
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.error().message.rfind("pytorch_model.bin: pytorch: not a zip archive", 0), 0u)
      << scan.error().message;
  EXPECT_EQ(scan.error().category, ErrorCategory::integrity);
}

TEST(ModelScan, FiniteScanSampledAndFull) {
  test::TempDir dir;
  const size_t n = 4096;
  // NaN in the middle: only the full scan reads it.
  ASSERT_TRUE(write_file_atomic(dir.path() + "/model.safetensors", float_file(n, 2000)).ok());
  auto scan = scan_model(dir.path(), lock_for(dir.path(), {"model.safetensors"}));
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(check_finite(dir.path(), *scan, FiniteScan::sampled).ok());
  Status full = check_finite(dir.path(), *scan, FiniteScan::full);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message.find("tensor 'w' holds NaN or Inf at element 2000"),
            std::string::npos);
  // NaN near the end: the sampled scan sees it too.
  ASSERT_TRUE(write_file_atomic(dir.path() + "/model.safetensors", float_file(n, n - 3)).ok());
  scan = scan_model(dir.path(), lock_for(dir.path(), {"model.safetensors"}));
  ASSERT_TRUE(scan.ok());
  EXPECT_FALSE(check_finite(dir.path(), *scan, FiniteScan::sampled).ok());
}

}  // namespace
}  // namespace mb::runtime
