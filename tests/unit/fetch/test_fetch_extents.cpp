#include <gtest/gtest.h>

#include "fetch/extents.hpp"
#include "fetch/resume_state.hpp"
#include "support/temp_dir.hpp"

namespace mb::fetch {
namespace {

TEST(FetchExtents, MergesOverlappingAndAdjacent) {
  ExtentSet s;
  s.add(10, 20);
  s.add(30, 40);
  s.add(20, 25);  // adjacent to the first
  EXPECT_EQ(s.extents(), (std::vector<Extent>{{10, 25}, {30, 40}}));
  s.add(24, 31);  // bridges both
  EXPECT_EQ(s.extents(), (std::vector<Extent>{{10, 40}}));
  s.add(5, 5);  // empty: ignored
  EXPECT_EQ(s.covered(), 30u);
}

TEST(FetchExtents, ContiguousPrefixStartsAtZero) {
  ExtentSet s;
  s.add(5, 10);
  EXPECT_EQ(s.contiguous_prefix(), 0u);
  s.add(0, 3);
  EXPECT_EQ(s.contiguous_prefix(), 3u);
  s.add(3, 5);
  EXPECT_EQ(s.contiguous_prefix(), 10u);
}

TEST(FetchExtents, GapsCoverTheRest) {
  ExtentSet s;
  EXPECT_EQ(s.gaps(100), (std::vector<Extent>{{0, 100}}));
  s.add(0, 10);
  s.add(50, 60);
  EXPECT_EQ(s.gaps(100), (std::vector<Extent>{{10, 50}, {60, 100}}));
  s.add(60, 100);
  EXPECT_EQ(s.gaps(100), (std::vector<Extent>{{10, 50}}));
  EXPECT_TRUE(s.contains(52, 58));
  EXPECT_FALSE(s.contains(5, 15));
}

TEST(FetchExtents, SplitWorkInFileOrder) {
  auto items = split_work({{0, 10}, {20, 25}}, 4);
  EXPECT_EQ(items, (std::vector<Extent>{{0, 4}, {4, 8}, {8, 10}, {20, 24}, {24, 25}}));
  EXPECT_TRUE(split_work({}, 4).empty());
}

TEST(FetchExtents, ChunkSizeIsClamped) {
  const uint64_t mib = 1 << 20;
  EXPECT_EQ(choose_chunk_size(100 * mib, 8 * mib), 8 * mib);      // small file: the floor
  EXPECT_EQ(choose_chunk_size(2048 * mib, 8 * mib), 16 * mib);    // ~128 pieces
  EXPECT_EQ(choose_chunk_size(100000 * mib, 8 * mib), 64 * mib);  // the ceiling
  EXPECT_EQ(choose_chunk_size(1000, 256), 256u);
}

TEST(FetchResumeState, RoundTrips) {
  ResumeState st{"ab" + std::string(62, 'c'), 1000, {}};
  st.done.add(0, 100);
  st.done.add(500, 700);
  auto parsed = parse_resume_state(serialize_resume_state(st));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->etag, st.etag);
  EXPECT_EQ(parsed->size, 1000u);
  EXPECT_EQ(parsed->done.extents(), st.done.extents());
}

TEST(FetchResumeState, RejectsDamagedState) {
  EXPECT_FALSE(parse_resume_state("").ok());
  EXPECT_FALSE(parse_resume_state("{\"format\":1}").ok());
  EXPECT_FALSE(parse_resume_state(R"({"format":2,"etag":"x","size":10,"done":[]})").ok());
  EXPECT_FALSE(parse_resume_state(R"({"format":1,"etag":"x","size":10,"done":[[0,11]]})").ok());
  EXPECT_FALSE(parse_resume_state(R"({"format":1,"etag":"x","size":10,"done":[[5,5]]})").ok());
  EXPECT_FALSE(parse_resume_state(R"({"format":1,"etag":"x","size":10,"done":[[0]]})").ok());
  EXPECT_TRUE(parse_resume_state(R"({"format":1,"etag":"x","size":10,"done":[[0,10]]})").ok());
}

TEST(FetchResumeState, LoadChecksOwnership) {
  test::TempDir dir;
  std::string path = dir.path() + "/x.partial.json";
  CacheDoor door(dir.path());
  EXPECT_FALSE(load_resume_state(door, path, "e", 10).has_value());  // missing
  ResumeState st{"e", 10, {}};
  st.done.add(0, 4);
  ASSERT_TRUE(save_resume_state(door, path, st).ok());
  ASSERT_TRUE(load_resume_state(door, path, "e", 10).has_value());
  EXPECT_EQ(load_resume_state(door, path, "e", 10)->done.covered(), 4u);
  EXPECT_FALSE(load_resume_state(door, path, "other", 10).has_value());
  EXPECT_FALSE(load_resume_state(door, path, "e", 11).has_value());
}

}  // namespace
}  // namespace mb::fetch
