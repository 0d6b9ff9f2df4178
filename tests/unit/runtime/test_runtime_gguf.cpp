#include <gtest/gtest.h>

#include "runtime/formats/gguf.hpp"
#include "unit/runtime/builders.hpp"

namespace mb::runtime {
namespace {

using test::Gguf;
using test::put;
using test::span;

// A valid file: 2 kvs (architecture, alignment 64), an F32 [4, 2] tensor and a Q8_0 [32]
// tensor at aligned offsets.
Gguf valid_gguf() {
  Gguf g;
  g.kv_str("general.architecture", "llama");
  g.kv_u32("general.alignment", 64);
  g.tensor("token_embd.weight", {4, 2}, 0, 0);   // 32 bytes
  g.tensor("blk.0.ffn_up.weight", {32}, 8, 64);  // one Q8_0 block: 34 bytes
  return g;
}

std::string error_of(const std::string& file) {
  auto r = parse_gguf(span(file));
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(Gguf, ParsesMetadataTensorsAndAlignment) {
  std::string file = valid_gguf().build(std::string(98, '\0'), 64);
  auto r = parse_gguf(span(file));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(r->alignment, 64u);
  EXPECT_EQ(r->metadata.at("general.architecture"), "llama");
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "token_embd.weight");
  EXPECT_EQ(r->tensors[0].shape, (std::vector<uint64_t>{2, 4}));  // outermost first
  EXPECT_EQ(r->tensors[0].nbytes, 32u);
  EXPECT_EQ(r->tensors[1].dtype, "Q8_0");
  EXPECT_EQ(r->tensors[1].nbytes, 34u);
  EXPECT_EQ(r->tensors[1].offset, r->data_offset + 64);
  EXPECT_EQ(r->data_offset % 64, 0u);
}

TEST(Gguf, TruncatedAtEveryLengthFailsCleanly) {
  std::string file = valid_gguf().build(std::string(98, '\0'), 64);
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_FALSE(parse_gguf(span(file.substr(0, n))).ok()) << n;
  }
}

TEST(Gguf, MagicAndVersion) {
  std::string file = valid_gguf().build(std::string(98, '\0'), 64);
  std::string bad = file;
  bad[0] = 'X';
  EXPECT_NE(error_of(bad).find("magic"), std::string::npos);
  Gguf v1 = valid_gguf();
  v1.version = 1;
  EXPECT_NE(error_of(v1.build(std::string(98, '\0'), 64)).find("unsupported version 1"),
            std::string::npos);
}

TEST(Gguf, AbsurdCountsFailBeforeReading) {
  Gguf g = valid_gguf();
  g.n_tensors = uint64_t{1} << 62;
  EXPECT_NE(error_of(g.build("", 64)).find("tensor count"), std::string::npos);
  g = valid_gguf();
  g.n_kv = ~uint64_t{0};
  EXPECT_NE(error_of(g.build("", 64)).find("metadata count"), std::string::npos);
  // An array claiming 2^60 u32 elements.
  Gguf a;
  a.str("tokenizer.ggml.scores");
  put<uint32_t>(a.body, 9);
  put<uint32_t>(a.body, 4);
  put<uint64_t>(a.body, uint64_t{1} << 60);
  a.n_kv = 1;
  EXPECT_NE(error_of(a.build("")).find("claims 1152921504606846976 elements"), std::string::npos);
  // A string longer than the file.
  Gguf s;
  s.str("k");
  put<uint32_t>(s.body, 8);
  put<uint64_t>(s.body, uint64_t{1} << 40);
  s.n_kv = 1;
  EXPECT_NE(error_of(s.build("")).find("exceeds"), std::string::npos);
}

TEST(Gguf, ArraysNestedTooDeep) {
  Gguf g;
  g.str("deep");
  put<uint32_t>(g.body, 9);
  for (int i = 0; i < 6; ++i) {
    put<uint32_t>(g.body, 9);
    put<uint64_t>(g.body, 1);
  }
  g.n_kv = 1;
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("nests arrays deeper"),
            std::string::npos);
}

TEST(Gguf, TensorPlacement) {
  Gguf g;
  g.tensor("a", {8}, 0, 4);  // not aligned to 32
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("not aligned"), std::string::npos);
  g = Gguf();
  g.tensor("a", {64}, 0, 0);  // 256 bytes, file has 64
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("runs past the end"), std::string::npos);
  g = Gguf();
  g.tensor("a", {16}, 0, 0);
  g.tensor("b", {16}, 0, 32);  // a is 64 bytes: overlaps b
  EXPECT_NE(error_of(g.build(std::string(128, '\0'))).find("overlap"), std::string::npos);
  g = Gguf();
  g.tensor("a", {16}, 77, 0);
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("unknown ggml type 77"),
            std::string::npos);
  g = Gguf();
  g.tensor("a", {31}, 8, 0);  // Q8_0 rows must be multiples of 32
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("block size 32"), std::string::npos);
  g = Gguf();
  g.tensor("a", {1, 1, 1, 1, 1}, 0, 0);
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("5 dimensions"), std::string::npos);
  g = Gguf();
  g.tensor("a", {4}, 0, 0);
  g.tensor("a", {4}, 0, 32);
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("duplicate tensor"), std::string::npos);
  g = Gguf();
  g.tensor("a", {1ull << 40, 1ull << 40, 1ull << 40}, 0, 0);
  EXPECT_NE(error_of(g.build(std::string(64, '\0'))).find("overflows"), std::string::npos);
}

TEST(Gguf, BadAlignmentAndDuplicateKeys) {
  Gguf g;
  g.kv_u32("general.alignment", 48);
  EXPECT_NE(error_of(g.build("")).find("not a power of two"), std::string::npos);
  g = Gguf();
  g.kv_u32("general.alignment", 0);
  EXPECT_NE(error_of(g.build("")).find("not a power of two"), std::string::npos);
  g = Gguf();
  g.kv_str("x", "1");
  g.kv_str("x", "2");
  EXPECT_NE(error_of(g.build("")).find("duplicate metadata key"), std::string::npos);
}

}  // namespace
}  // namespace mb::runtime
