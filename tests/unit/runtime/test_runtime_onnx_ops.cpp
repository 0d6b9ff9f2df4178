// Edge cases of the ONNX interpreter's elementwise ops that the exports in
// tests/integration/test_onnx_reference.py reach only by chance: MPNet's relative position
// buckets cast log(0) = -inf to int64 before Where drops it, take Abs and Min of int64, and a
// hostile graph may feed anything to Cast.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "runtime/onnx/ops.hpp"

namespace mb::onnx {
namespace {

Result<Outputs> run(const char* op, const Inputs& in, std::vector<Attribute> attrs = {}) {
  Node n;
  n.op_type = op;
  n.attributes = std::move(attrs);
  OpFn fn = find_op(op);
  EXPECT_NE(fn, nullptr) << op;
  return fn(n, in, 17);
}

Attribute int_attr(const char* name, int64_t v) {
  Attribute a;
  a.name = name;
  a.kind = Attribute::Kind::i;
  a.i = v;
  return a;
}

constexpr int64_t k_min = std::numeric_limits<int64_t>::min();

TEST(OnnxOps, CastOfNonFiniteOrHugeFloatsIsInt64Min) {
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor x = Tensor::floats({5}, {-inf, inf, std::nanf(""), 1e30f, -2.75f});
  auto out = run("Cast", {&x}, {int_attr("to", 7)});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0].i, (std::vector<int64_t>{k_min, k_min, k_min, k_min, -2}));
  // int64 to int64 keeps every bit (a round trip through double would not).
  const Tensor big = Tensor::ints({1}, {(int64_t{1} << 62) + 1});
  auto same = run("Cast", {&big}, {int_attr("to", 7)});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)[0].i, big.i);
}

TEST(OnnxOps, AbsAndNegOfInt64AndFloat) {
  const Tensor i = Tensor::ints({4}, {-3, 0, 5, k_min});
  auto abs = run("Abs", {&i});
  ASSERT_TRUE(abs.ok());
  EXPECT_EQ((*abs)[0].i, (std::vector<int64_t>{3, 0, 5, k_min}));  // numpy's wrap-around
  auto neg = run("Neg", {&i});
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ((*neg)[0].i, (std::vector<int64_t>{3, 0, -5, k_min}));
  const Tensor f = Tensor::floats({2}, {-0.5f, 4.0f});
  auto fabs = run("Abs", {&f});
  ASSERT_TRUE(fabs.ok());
  EXPECT_EQ((*fabs)[0].f, (std::vector<float>{0.5f, 4.0f}));
  auto log = run("Log", {&f});
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(std::isnan((*log)[0].f[0]));
  EXPECT_EQ((*log)[0].f[1], std::log(4.0f));
}

TEST(OnnxOps, MinMaxBroadcastAndKeepNaN) {
  const Tensor a = Tensor::ints({2, 2}, {1, 20, 30, 4});
  const Tensor b = Tensor::ints({1}, {15});
  auto mn = run("Min", {&a, &b});
  ASSERT_TRUE(mn.ok());
  EXPECT_EQ((*mn)[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ((*mn)[0].i, (std::vector<int64_t>{1, 15, 15, 4}));
  auto mx = run("Max", {&a, &b});
  ASSERT_TRUE(mx.ok());
  EXPECT_EQ((*mx)[0].i, (std::vector<int64_t>{15, 20, 30, 15}));
  const Tensor f = Tensor::floats({2}, {std::nanf(""), 1.0f});
  const Tensor g = Tensor::floats({2}, {0.0f, 2.0f});
  auto fm = run("Min", {&f, &g});
  ASSERT_TRUE(fm.ok());
  EXPECT_TRUE(std::isnan((*fm)[0].f[0]));
  EXPECT_EQ((*fm)[0].f[1], 1.0f);
  const Tensor* none = nullptr;
  EXPECT_FALSE(run("Min", {&f, none}).ok());  // a missing input is a broken graph
  EXPECT_FALSE(run("Max", {&f, &a}).ok());    // float with int64
}

}  // namespace
}  // namespace mb::onnx
