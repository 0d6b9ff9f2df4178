#include <gtest/gtest.h>

#include "manifest/patterns.hpp"

namespace mb {
namespace {

TEST(Patterns, StarCrossesSlashLikeFnmatch) {
  EXPECT_TRUE(pattern_match("*.json", "config.json"));
  EXPECT_TRUE(pattern_match("*.json", "a/b/c.json"));
  EXPECT_TRUE(pattern_match("data/*.json", "data/x/y.json"));
  EXPECT_TRUE(pattern_match("**", "anything/at/all"));
  EXPECT_FALSE(pattern_match("*.json", "config.jsonl"));
}

TEST(Patterns, CaseSensitive) {
  EXPECT_FALSE(pattern_match("*.JSON", "config.json"));
  EXPECT_FALSE(pattern_match("README.md", "readme.md"));
}

TEST(Patterns, TrailingSlashMeansFolder) {
  EXPECT_TRUE(pattern_match("1_Pooling/", "1_Pooling/config.json"));
  EXPECT_FALSE(pattern_match("1_Pooling/", "2_Dense/config.json"));
  EXPECT_TRUE(pattern_match("onnx/*", "onnx/model.onnx"));
}

TEST(Patterns, QuestionMarkAndBrackets) {
  EXPECT_TRUE(
      pattern_match("model-0000?-of-00002.safetensors", "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(pattern_match("[ab].txt", "a.txt"));
  EXPECT_FALSE(pattern_match("[ab].txt", "c.txt"));
  EXPECT_TRUE(pattern_match("[!ab].txt", "c.txt"));
  EXPECT_TRUE(pattern_match("[a-c]x", "bx"));
  EXPECT_TRUE(pattern_match("[", "["));  // unterminated bracket is a literal
  EXPECT_FALSE(pattern_match("?", ""));
}

TEST(Patterns, WholePathNotSubstring) {
  EXPECT_FALSE(pattern_match("model.safetensors", "sub/model.safetensors"));
  EXPECT_TRUE(pattern_match("*model.safetensors", "sub/model.safetensors"));
}

TEST(Patterns, NoCatastrophicBacktracking) {
  std::string path(2000, 'a');
  EXPECT_FALSE(pattern_match("*a*a*a*a*a*a*a*a*b", path));
}

TEST(Selection, IncludeThenExclude) {
  std::vector<std::string> inc{"*.json", "*.safetensors", "1_Pooling/*"};
  std::vector<std::string> exc{"onnx/*"};
  EXPECT_TRUE(path_selected(inc, exc, "config.json"));
  EXPECT_TRUE(path_selected(inc, exc, "1_Pooling/config.json"));
  EXPECT_FALSE(path_selected(inc, exc, "onnx/config.json"));
  EXPECT_FALSE(path_selected(inc, exc, "pytorch_model.bin"));
  EXPECT_TRUE(path_selected({}, {}, "anything"));
  EXPECT_FALSE(path_selected({}, {"*.bin"}, "pytorch_model.bin"));
}

}  // namespace
}  // namespace mb
