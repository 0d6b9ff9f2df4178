#include <gtest/gtest.h>

#include "fetch/xet_index.hpp"

namespace mb::fetch {
namespace {

const std::string A(64, 'a'), B(64, 'b');

TEST(XetIndex, RunsRoundTripAndOnlyWantedXorbsAreKept) {
  ChunkIndex index;
  // Out of order, as parallel workers record them.
  index.chunks.push_back({index.xorb_id(A), 5, 300, 100});
  index.chunks.push_back({index.xorb_id(A), 3, 0, 200});
  index.chunks.push_back({index.xorb_id(A), 4, 200, 100});
  index.chunks.push_back({index.xorb_id(B), 0, 400, 50});
  std::string text = index.serialize();
  EXPECT_EQ(text, "xet-chunks 1\n" + A + " 3 0 200 100 100\n" + B + " 0 400 50\n");
  LocalChunks out;
  collect_local_chunks(text, "/obj", {A}, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.at({A, 4}).offset, 200u);
  EXPECT_EQ(out.at({A, 5}).length, 100u);
  EXPECT_EQ(out.at({A, 5}).path, "/obj");
  EXPECT_EQ(out.count({B, 0}), 0u);
}

TEST(XetIndex, DamagedTextGivesNothingWrong) {
  LocalChunks out;
  collect_local_chunks("garbage", "/o", {A}, out);
  collect_local_chunks("xet-chunks 1\n" + A + " x 0 10\n", "/o", {A}, out);
  collect_local_chunks("xet-chunks 1\n" + A + " 0 0 999999999\n", "/o", {A}, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace mb::fetch
