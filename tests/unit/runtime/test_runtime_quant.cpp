// ggml block dequantisation on hand-built blocks (the Python reference in
// tests/support/gguf_writer.py covers random data), the llama rope row map, QuantMatrix bounds,
// and the GGUF reader's typed metadata accessors the loader relies on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "runtime/decoder/quant.hpp"
#include "runtime/formats/gguf.hpp"
#include "runtime/kernels/parallel.hpp"
#include "unit/runtime/builders.hpp"

namespace mb::infer {
namespace {

constexpr uint16_t k_half_one = 0x3C00, k_half_two = 0x4000, k_half_half = 0x3800;

void put_half(std::vector<uint8_t>& b, size_t at, uint16_t h) { std::memcpy(&b[at], &h, 2); }

TEST(Quant, Q8_0AndQ4_0Blocks) {
  std::vector<uint8_t> q8(34);
  put_half(q8, 0, k_half_two);
  for (int i = 0; i < 32; ++i) q8[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 16));
  float y[32];
  dequantize(GgmlType::q8_0, q8.data(), y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], 2.0f * (i - 16)) << i;

  std::vector<uint8_t> q4(18);
  put_half(q4, 0, k_half_half);
  for (int j = 0; j < 16; ++j) q4[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  dequantize(GgmlType::q4_0, q4.data(), y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;       // low nibbles: elements 0..15
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j)) << j;  // high nibbles: elements 16..31
  }
}

TEST(Quant, Q5_0FifthBits) {
  std::vector<uint8_t> b(22, 0);
  put_half(b, 0, k_half_one);
  const uint32_t qh = (1u << 3) | (1u << 20);  // fifth bit of elements 3 and 20
  std::memcpy(&b[2], &qh, 4);
  b[6 + 3] = 0x0F;  // element 3: low nibble 15 -> 31; element 19: high nibble 0 -> 0
  b[6 + 4] = 0x20;  // element 20: high nibble 2 -> 18
  float y[32];
  dequantize(GgmlType::q5_0, b.data(), y, 32);
  EXPECT_EQ(y[3], 31.0f - 16);
  EXPECT_EQ(y[19], -16.0f);
  EXPECT_EQ(y[20], 18.0f - 16);
  EXPECT_EQ(y[0], -16.0f);
}

TEST(Quant, Q4_KPackedScalesOfTheUpperSubBlocks) {
  std::vector<uint8_t> b(144, 0);
  put_half(b, 0, k_half_one);   // d
  put_half(b, 2, k_half_half);  // dmin
  // Sub-block 5: scale 0b110011 = 51 (low 4 bits in byte 9, top 2 in byte 1's high bits),
  // min 0b100101 = 37 (low 4 bits in byte 9's high nibble, top 2 in byte 5's high bits).
  b[4 + 9] = static_cast<uint8_t>((51 & 0xF) | ((37 & 0xF) << 4));
  b[4 + 1] = static_cast<uint8_t>((51 >> 4) << 6);
  b[4 + 5] = static_cast<uint8_t>((37 >> 4) << 6);
  // Sub-block 5 is the high nibbles of bytes 64..95 of qs (elements 160..191).
  for (int l = 0; l < 32; ++l) b[16 + 64 + l] = static_cast<uint8_t>((l % 16) << 4);
  std::vector<float> y(256);
  dequantize(GgmlType::q4_k, b.data(), y.data(), 256);
  for (int l = 0; l < 32; ++l) EXPECT_EQ(y[160 + l], 51.0f * (l % 16) - 0.5f * 37) << l;
  EXPECT_EQ(y[0], 0.0f);  // sub-block 0: scale 0, min 0
}

TEST(Quant, Q6_KLayout) {
  std::vector<uint8_t> b(210, 0);
  put_half(b, 208, k_half_two);
  for (int i = 0; i < 16; ++i) b[192 + i] = static_cast<uint8_t>(static_cast<int8_t>(i - 8));
  // Element 64 + 128 + 3 (second half, third quarter, l = 3): high nibble of ql[64 + 3],
  // bits 4-5 of qh[32 + 3]; q = 0x2A - 32 = 10; scale index (195 / 16) = 12.
  b[64 + 3] = 0xA0;
  b[128 + 32 + 3] = 0x20;
  std::vector<float> y(256);
  dequantize(GgmlType::q6_k, b.data(), y.data(), 256);
  EXPECT_EQ(y[195], 2.0f * (12 - 8) * 10);
  EXPECT_EQ(y[0], 2.0f * (0 - 8) * -32);  // q = 0 - 32 everywhere else
}

TEST(Quant, LlamaRopeUnpermuteInvertsTheConverter) {
  // convert_hf_to_gguf permute: per head, rows [2, D/2] -> [D/2, 2].
  const int64_t heads = 2, dim = 6;
  std::vector<int32_t> hf(heads * dim);
  std::iota(hf.begin(), hf.end(), 0);
  std::vector<int32_t> stored(hf.size());
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < dim / 2; ++i)
        stored[h * dim + 2 * i + j] = hf[h * dim + j * dim / 2 + i];
  auto map = llama_rope_unpermute(heads * dim, heads);
  ASSERT_EQ(map.size(), hf.size());
  for (size_t r = 0; r < hf.size(); ++r) EXPECT_EQ(stored[map[r]], hf[r]) << r;
  EXPECT_TRUE(llama_rope_unpermute(10, 3).empty());
  EXPECT_TRUE(llama_rope_unpermute(6, 2).empty());  // odd head size
}

TEST(Quant, QuantMatrixChecksSizesAndRowMap) {
  std::vector<uint8_t> data(2 * 34, 0);
  auto ok = QuantMatrix::create(8, data.data(), data.size(), 2, 32, nullptr, {1, 0});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->type_name(), "Q8_0");
  EXPECT_FALSE(QuantMatrix::create(8, data.data(), data.size() - 1, 2, 32, nullptr).ok());
  EXPECT_FALSE(QuantMatrix::create(8, data.data(), data.size(), 2, 33, nullptr).ok());
  EXPECT_FALSE(QuantMatrix::create(13, data.data(), data.size(), 2, 32, nullptr).ok());  // Q5_K
  EXPECT_FALSE(QuantMatrix::create(8, data.data(), data.size(), 2, 32, nullptr, {0, 2}).ok());
  EXPECT_FALSE(
      QuantMatrix::create(8, data.data(), data.size(), 1ll << 40, 1ll << 40, nullptr).ok());
}

TEST(Quant, RowMapAndMatvec) {
  std::vector<float> w = {1, 2, 3, 4, 5, 6};  // F32 [3, 2]
  std::vector<uint8_t> data(w.size() * 4);
  std::memcpy(data.data(), w.data(), data.size());
  auto m = QuantMatrix::create(0, data.data(), data.size(), 3, 2, nullptr, {2, 0, 1});
  ASSERT_TRUE(m.ok());
  float row[2], y[3];
  (*m)->row_f32(0, row);
  EXPECT_EQ(row[0], 5.0f);
  const float x[2] = {1.0f, -1.0f};
  (*m)->matvec(x, y);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[1], -1.0f);
  EXPECT_EQ(y[2], -1.0f);
}

// The integer Q8_0 dot and the row split across threads (with a row map), on both kernels.
// Every block of x holds 127, so the activation quantises exactly (d = 1, q = x) and every
// path must give the same bits as the hand-computed sums (all partial sums are exact).
TEST(Quant, Q8_0MatvecIntegerAndThreadedWithRowMap) {
  constexpr int64_t rows = 512, cols = 1024, blocks = cols / 32;  // enough work for 2 threads
  std::vector<uint8_t> data(rows * blocks * 34);
  std::vector<int32_t> map(rows);
  std::vector<float> x(cols), want(rows);
  for (int64_t c = 0; c < cols; ++c) x[c] = c % 32 == 5 ? 127.0f : static_cast<float>(c % 7) - 3.0f;
  for (int64_t r = 0; r < rows; ++r) {
    map[r] = static_cast<int32_t>(rows - 1 - r);
    for (int64_t b = 0; b < blocks; ++b) {
      const size_t at = static_cast<size_t>((r * blocks + b) * 34);
      put_half(data, at, b % 2 ? k_half_two : k_half_half);
      for (int i = 0; i < 32; ++i) {
        // -128 too: a file may hold it though ggml's quantiser never writes it.
        const auto q = static_cast<int8_t>((r * 31 + b * 7 + i * 13) % 256 - 128);
        data[at + 2 + i] = static_cast<uint8_t>(q);
        want[rows - 1 - r] += (b % 2 ? 2.0f : 0.5f) * q * x[b * 32 + i];
      }
    }
  }
  auto m = QuantMatrix::create(8, data.data(), data.size(), rows, cols, nullptr, map);
  ASSERT_TRUE(m.ok());
  for (bool portable : {false, true}) {
    use_portable_quant_kernels(portable);
    std::vector<float> one(rows), two(rows);
    (*m)->matvec(x.data(), one.data());
    set_infer_threads(2);
    (*m)->matvec(x.data(), two.data());
    set_infer_threads(1);
    EXPECT_EQ(one, want) << "portable " << portable;
    EXPECT_EQ(two, want) << "portable " << portable;
  }
  use_portable_quant_kernels(false);
}

// The activation is quantised as llama.cpp's quantize_row_q8_0 does (d = max|x| / 127,
// q = round(x / d)), so a Q8_0 product is sum(q_w * q_x) * d_w * d_x, not the float dot.
TEST(Quant, Q8_0MatvecQuantisesTheActivation) {
  std::vector<uint8_t> data(34);
  put_half(data, 0, k_half_one);
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) {
    data[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(i % 2 ? 3 : -2));
    x[i] = 0.1f * static_cast<float>(i) - 1.0f;  // max |x| = 2.1
  }
  int8_t q[32];
  float d = 0.0f;
  quantize_q8_activation(x.data(), 32, q, &d);
  EXPECT_EQ(d, x[31] / 127.0f);
  EXPECT_EQ(q[31], 127);
  EXPECT_EQ(q[0], -60);  // -1.0 * 127 / 2.1 = -60.48
  EXPECT_EQ(q[1], -54);  // -0.9 * 127 / 2.1 = -54.43
  int32_t sum = 0;
  for (int i = 0; i < 32; ++i) sum += q[i] * (i % 2 ? 3 : -2);
  const double want = static_cast<double>(sum) * d;
  double exact = 0.0;  // the float product, which differs by about 1e-3 here
  for (int i = 0; i < 32; ++i) exact += static_cast<double>(x[i]) * (i % 2 ? 3 : -2);
  ASSERT_GT(std::fabs(exact - want), 1e-4);
  auto m = QuantMatrix::create(8, data.data(), data.size(), 1, 32, nullptr);
  ASSERT_TRUE(m.ok());
  for (bool portable : {false, true}) {
    use_portable_quant_kernels(portable);
    float y = 0.0f;
    (*m)->matvec(x.data(), &y);
    // The AVX2 kernel scales 8 partial sums before adding them: a few float roundings.
    EXPECT_NEAR(y, want, 1e-6 * std::fabs(want)) << "portable " << portable;
  }
  use_portable_quant_kernels(false);
}

// A NaN or infinite activation must not quantise into finite numbers: the decoder's check for
// a finite output is what reports a broken model.
TEST(Quant, Q8_0NonFiniteActivationStaysNonFinite) {
  std::vector<uint8_t> data(2 * 34);
  put_half(data, 0, k_half_one);
  put_half(data, 34, k_half_one);
  for (int i = 0; i < 32; ++i) data[2 + i] = data[36 + i] = 1;
  auto m = QuantMatrix::create(8, data.data(), data.size(), 1, 64, nullptr);
  ASSERT_TRUE(m.ok());
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    std::vector<float> x(64, 0.5f);
    x[40] = bad;
    float y = 0.0f;
    (*m)->matvec(x.data(), &y);
    EXPECT_FALSE(std::isfinite(y)) << bad;
  }
}

TEST(GgufArrays, TypedAccessors) {
  test::Gguf g;
  g.kv_u32("llama.block_count", 7);
  g.str("tokenizer.ggml.tokens");
  test::put<uint32_t>(g.body, 9);  // array
  test::put<uint32_t>(g.body, 8);  // of strings
  test::put<uint64_t>(g.body, 2);
  g.str("a");
  g.str(
      "\xe2\x96\x81"
      "b");
  g.str("tokenizer.ggml.scores");
  test::put<uint32_t>(g.body, 9);
  test::put<uint32_t>(g.body, 6);  // of f32
  test::put<uint64_t>(g.body, 2);
  test::put<float>(g.body, 0.1f);
  test::put<float>(g.body, -2.5f);
  g.n_kv += 2;
  const std::string file = g.build("");
  auto info = runtime::parse_gguf(test::span(file));
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->numbers.at("llama.block_count"), 7.0);
  auto tokens = runtime::gguf_string_array(test::span(file), *info, "tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*tokens, (std::vector<std::string>{"a",
                                               "\xe2\x96\x81"
                                               "b"}));
  auto scores = runtime::gguf_number_array(test::span(file), *info, "tokenizer.ggml.scores");
  ASSERT_TRUE(scores.ok());
  EXPECT_EQ(*scores, (std::vector<double>{0.1f, -2.5f}));  // exact, unlike the text form
  EXPECT_FALSE(runtime::gguf_string_array(test::span(file), *info, "tokenizer.ggml.scores").ok());
  EXPECT_FALSE(runtime::gguf_number_array(test::span(file), *info, "tokenizer.ggml.tokens").ok());
  EXPECT_FALSE(runtime::gguf_number_array(test::span(file), *info, "absent").ok());
}

}  // namespace
}  // namespace mb::infer
