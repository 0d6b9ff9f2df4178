#include <gtest/gtest.h>

#include "runtime/formats/onnx.hpp"
#include "runtime/formats/zip.hpp"
#include "unit/runtime/builders.hpp"

namespace mb::runtime {
namespace {

using test::pb_bytes;
using test::pb_varint;
using test::span;

std::string torch_zip() {
  test::ZipWriter z;
  z.add("archive/data.pkl", std::string(20, 'p'));
  z.add("archive/data/0", std::string(64, '\1'));
  z.add("archive/data/1", std::string(16, '\2'));
  z.add("archive/version", "3\n");
  return z.finish();
}

TEST(Zip, ParsesPytorchCheckpoint) {
  std::string file = torch_zip();
  auto z = parse_zip(span(file));
  ASSERT_TRUE(z.ok()) << z.error().message;
  ASSERT_EQ(z->entries.size(), 4u);
  EXPECT_EQ(z->entries[1].name, "archive/data/0");
  EXPECT_EQ(file.substr(z->entries[1].data_offset, 64), std::string(64, '\1'));
  auto bytes = pytorch_storage_bytes(*z);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 80u);
}

TEST(Zip, TruncatedAtEveryLengthFailsCleanly) {
  std::string file = torch_zip();
  for (size_t n = 0; n < file.size(); ++n)
    EXPECT_FALSE(parse_zip(span(file.substr(0, n))).ok()) << n;
}

TEST(Zip, DamagedDirectoryAndHeaders) {
  std::string file = torch_zip();
  const size_t eocd = file.size() - 22;
  std::string bad = file;
  uint32_t off = 1u << 30;
  std::memcpy(bad.data() + eocd + 16, &off, 4);  // central directory offset beyond the file
  EXPECT_NE(parse_zip(span(bad)).error().message.find("outside the archive"), std::string::npos);
  bad = file;
  uint16_t count = 0xfff0;
  std::memcpy(bad.data() + eocd + 8, &count, 2);
  std::memcpy(bad.data() + eocd + 10, &count, 2);
  EXPECT_NE(parse_zip(span(bad)).error().message.find("cannot fit"), std::string::npos);
  bad = file;
  bad[30] = 'X';  // first local header's name differs from the directory's
  EXPECT_NE(parse_zip(span(bad)).error().message.find("does not match"), std::string::npos);
  bad = file;
  bad[0] = 'Q';  // local header signature
  EXPECT_NE(parse_zip(span(bad)).error().message.find("local header"), std::string::npos);
  EXPECT_NE(parse_zip(span(std::string(100, 'x'))).error().message.find("no end of central"),
            std::string::npos);
}

TEST(Zip, NotAPytorchCheckpoint) {
  test::ZipWriter z;
  z.add("weights/data/0", "abcd");
  std::string file = z.finish();
  auto zip = parse_zip(span(file));
  ASSERT_TRUE(zip.ok());
  EXPECT_NE(pytorch_storage_bytes(*zip).error().message.find("data.pkl"), std::string::npos);
}

// TensorProto with dims, data_type FLOAT and raw_data.
std::string tensor_proto(const std::string& name, std::vector<uint64_t> dims, size_t raw) {
  std::string t;
  for (auto d : dims) t += pb_varint(1, d);
  t += pb_varint(2, 1);
  t += pb_bytes(8, name);
  t += pb_bytes(9, std::string(raw, '\0'));
  return t;
}

std::string model_proto(const std::string& graph) {
  return pb_varint(1, 8) + pb_bytes(2, "test") + pb_bytes(7, graph) + pb_bytes(8, pb_varint(2, 17));
}

Result<OnnxInfo> parse(const std::string& file, uint64_t external_size = 0) {
  return parse_onnx(span(file), [&](const std::string& p) -> Result<uint64_t> {
    if (p != "model.onnx_data") return fail(ErrorCategory::integrity, "missing " + p);
    return external_size;
  });
}

TEST(Onnx, ParsesGraphInitializers) {
  std::string node = pb_bytes(1, "x") + pb_bytes(2, "y") + pb_bytes(4, "Relu");
  std::string graph =
      pb_bytes(1, node) + pb_bytes(5, tensor_proto("w", {2, 3}, 24)) + pb_bytes(2, "g");
  auto r = parse(model_proto(graph));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ir_version, 8u);
  ASSERT_EQ(r->initializers.size(), 1u);
  EXPECT_EQ(r->initializers[0].name, "w");
  EXPECT_EQ(r->initializers[0].dtype, "FLOAT");
  EXPECT_EQ(r->initializers[0].shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(r->initializers[0].nbytes, 24u);
}

TEST(Onnx, HostileModels) {
  std::string graph = pb_bytes(5, tensor_proto("w", {2, 3}, 20));
  EXPECT_NE(parse(model_proto(graph)).error().message.find("needs 24 bytes but raw_data has 20"),
            std::string::npos);
  EXPECT_NE(parse(pb_varint(1, 8)).error().message.find("no graph"), std::string::npos);
  // The graph comes last, so every proper prefix either truncates a field or has no graph.
  std::string good = pb_varint(1, 8) + pb_bytes(7, pb_bytes(5, tensor_proto("w", {2}, 8)));
  for (size_t n = 1; n < good.size(); ++n) {
    auto r = parse(good.substr(0, n));
    if (r.ok()) ADD_FAILURE() << "prefix " << n << " accepted";
  }
  std::string bad_varint = "\x08" + std::string(11, '\xff');
  EXPECT_FALSE(parse(bad_varint).ok());
  std::string group = "\x0b";  // field 1, wire type 3 (start group)
  EXPECT_NE(parse(group).error().message.find("wire type 3"), std::string::npos);
  // Subgraphs nested through node attributes beyond the depth limit.
  std::string g = pb_bytes(2, "leaf");
  for (int i = 0; i < 40; ++i) g = pb_bytes(1, pb_bytes(5, pb_bytes(6, g)));
  EXPECT_NE(parse(model_proto(g)).error().message.find("deeper"), std::string::npos);
}

TEST(Onnx, ExternalData) {
  auto ext = [](const std::string& location, uint64_t offset, uint64_t length) {
    std::string t = pb_varint(1, 4) + pb_varint(2, 1) + pb_bytes(8, "w");
    auto entry = [](const std::string& k, const std::string& v) {
      return pb_bytes(13, pb_bytes(1, k) + pb_bytes(2, v));
    };
    t += entry("location", location) + entry("offset", std::to_string(offset)) +
         entry("length", std::to_string(length)) + pb_varint(14, 1);
    return model_proto(pb_bytes(5, t));
  };
  auto ok = parse(ext("model.onnx_data", 16, 16), 32);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->initializers[0].nbytes, 16u);
  EXPECT_EQ(ok->external_files, std::vector<std::string>{"model.onnx_data"});
  EXPECT_NE(parse(ext("model.onnx_data", 24, 16), 32).error().message.find("lies outside"),
            std::string::npos);
  EXPECT_NE(parse(ext("other.bin", 0, 16), 32).error().message.find("missing"), std::string::npos);
  EXPECT_FALSE(parse(ext("../escape", 0, 16), 32).ok());
  EXPECT_NE(parse(ext("model.onnx_data", 0, 12), 32).error().message.find("needs 16 bytes"),
            std::string::npos);
}

}  // namespace
}  // namespace mb::runtime
