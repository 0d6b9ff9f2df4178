#include <gtest/gtest.h>

#include "runtime/formats/safetensors.hpp"
#include "unit/runtime/builders.hpp"

namespace mb::runtime {
namespace {

using test::safetensors;
using test::span;

const std::string k_two =
    R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},)"
    R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";

std::string error_of(const std::string& file) {
  auto r = parse_safetensors(span(file));
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(Safetensors, ParsesTensorsMetadataAndOffsets) {
  std::string file = safetensors(k_two, std::string(12, '\0'));
  auto r = parse_safetensors(span(file));
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "a");
  EXPECT_EQ(r->tensors[0].offset, 8 + k_two.size());
  EXPECT_EQ(r->tensors[0].nbytes, 8u);
  EXPECT_EQ(r->tensors[1].name, "b");
  EXPECT_EQ(r->tensors[1].dtype, "F16");
  EXPECT_EQ(r->tensors[1].offset, 8 + k_two.size() + 8);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  EXPECT_EQ(bytes_by_dtype(r->tensors).at("F32"), 8u);
}

TEST(Safetensors, EmptyAndTinyFilesFail) {
  EXPECT_NE(error_of("").find("shorter than the 8-byte header length"), std::string::npos);
  EXPECT_NE(error_of("abc").find("shorter"), std::string::npos);
}

TEST(Safetensors, HeaderLengthBeyondEofOrCap) {
  std::string file = safetensors(k_two, std::string(12, '\0'));
  std::string beyond = file;
  uint64_t n = file.size();
  std::memcpy(beyond.data(), &n, 8);
  EXPECT_NE(error_of(beyond).find("runs past the end"), std::string::npos);
  uint64_t huge = ~uint64_t{0};
  std::memcpy(beyond.data(), &huge, 8);
  EXPECT_NE(error_of(beyond).find("cap"), std::string::npos);
}

TEST(Safetensors, TruncatedAtEveryLengthFailsCleanly) {
  std::string file = safetensors(k_two, std::string(12, '\0'));
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_FALSE(parse_safetensors(span(file.substr(0, n))).ok()) << n;
  }
}

TEST(Safetensors, OverlapGapAndTrailingBytes) {
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 std::string(8, '\0')))
                .find("overlaps"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 std::string(8, '\0')))
                .find("gap of 4 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                 std::string(8, '\0')))
                .find("4 bytes after the last tensor"),
            std::string::npos);
}

TEST(Safetensors, ShapeDtypeAndRangeDisagreements) {
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                                 std::string(8, '\0')))
                .find("needs 12 bytes but data_offsets span 8"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})",
                                 std::string(8, '\0')))
                .find("unknown dtype 'Q9'"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})",
                                 std::string(8, '\0')))
                .find("needs 8 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                                 std::string(8, '\0')))
                .find("ends at byte 16 of a data section of 8 bytes"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
                                 std::string(4, '\0')))
                .find("non-integer dimension"),
            std::string::npos);
  EXPECT_NE(
      error_of(
          safetensors(
              R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})",
              std::string(4, '\0')))
          .find("overflows"),
      std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})",
                                 std::string(4, '\0')))
                .find("begin > end"),
            std::string::npos);
}

TEST(Safetensors, MalformedHeaders) {
  EXPECT_NE(error_of(safetensors(R"({"a":)", "")).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of(safetensors(R"([1,2])", "")).find("does not start with '{'"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"__metadata__":{"k":1}})", "")).find("not a string"),
            std::string::npos);
  EXPECT_NE(error_of(safetensors(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", std::string(4, 0)))
                .find("no dtype"),
            std::string::npos);
  // Zero tensors, padded header: valid.
  EXPECT_TRUE(parse_safetensors(span(safetensors("{}      ", ""))).ok());
}

}  // namespace
}  // namespace mb::runtime
