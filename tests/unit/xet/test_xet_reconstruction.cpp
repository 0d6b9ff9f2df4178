#include <gtest/gtest.h>

#include <string>

#include "xet/reconstruction.hpp"

namespace mb::xet {
namespace {

const std::string X1(64, 'a');
const std::string X2(64, 'b');

std::string v2() {
  return R"({"offset_into_first_range": 5, "terms": [
    {"hash": ")" +
         X1 + R"(", "unpacked_length": 300, "range": {"start": 0, "end": 3}},
    {"hash": ")" +
         X2 + R"(", "unpacked_length": 100, "range": {"start": 4, "end": 5}},
    {"hash": ")" +
         X1 + R"(", "unpacked_length": 200, "range": {"start": 1, "end": 3}}],
   "xorbs": {")" +
         X1 + R"(": [{"url": "https://cas/x1?sig", "ranges": [
                {"chunks": {"start": 0, "end": 3}, "bytes": {"start": 0, "end": 299}}]}],
             ")" +
         X2 + R"(": [{"url": "https://cas/x2?sig", "ranges": [
                {"chunks": {"start": 0, "end": 1}, "bytes": {"start": 0, "end": 99}},
                {"chunks": {"start": 4, "end": 5}, "bytes": {"start": 400, "end": 499}}]}]}})";
}

TEST(XetReconstruction, V2TermsFindTheirFetch) {
  auto r = parse_reconstruction(v2(), 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->offset_into_first_range, 5u);
  ASSERT_EQ(r->terms.size(), 3u);
  ASSERT_EQ(r->fetches.size(), 3u);
  EXPECT_EQ(r->unpacked_total(), 600u);
  const Fetch& f = r->fetches[r->terms[1].fetch];
  EXPECT_EQ(f.xorb, X2);
  EXPECT_EQ(f.chunk_begin, 4u);
  EXPECT_EQ(f.byte_first, 400u);
  EXPECT_EQ(f.byte_last, 499u);
  EXPECT_EQ(r->terms[0].fetch, r->terms[2].fetch);  // one range feeds two terms
}

TEST(XetReconstruction, V1OneUrlPerRange) {
  std::string text = R"({"offset_into_first_range": 0, "terms": [
    {"hash": ")" + X1 +
                     R"(", "unpacked_length": 10, "range": {"start": 2, "end": 3}}],
    "fetch_info": {")" +
                     X1 + R"(": [{"range": {"start": 2, "end": 3},
       "url": "https://cas/x?s", "url_range": {"start": 100, "end": 150}}]}})";
  auto r = parse_reconstruction(text, 1);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->fetches.at(0).url, "https://cas/x?s");
  EXPECT_EQ(r->fetches.at(0).byte_last, 150u);
}

TEST(XetReconstruction, InconsistentAnswersAreRefused) {
  auto bad = [](std::string text) { return parse_reconstruction(text, 2).ok(); };
  EXPECT_FALSE(bad("[]"));
  EXPECT_FALSE(bad("{"));
  std::string s = v2();
  // A term whose chunks no fetch holds.
  std::string uncovered = s;
  uncovered.replace(uncovered.find(R"("start": 4, "end": 5}},)"), 22, R"("start": 6, "end": 7}},)");
  EXPECT_FALSE(bad(uncovered));
  // More decoded bytes than chunks can hold.
  std::string huge = s;
  huge.replace(huge.find("300"), 3, "999999999");
  EXPECT_FALSE(bad(huge));
  // An offset past the first term.
  std::string off = s;
  off.replace(off.find("5, \"terms\""), 1, "300");
  EXPECT_FALSE(bad(off));
  // A xorb id that is not a hash.
  std::string id = s;
  id.replace(id.find(X2), 64, std::string(64, 'Z'));
  EXPECT_FALSE(bad(id));
}

// The batch form (api.md endpoint 5): one fetch_info for all files; each file keeps only the
// fetches its terms use, with the terms' fetch indexes renumbered.
TEST(XetReconstruction, BatchAnswerSplitsIntoWholeFiles) {
  const std::string F1(64, '1'), F2(64, '2');
  std::string doc = R"({"files": {")" + F1 + R"(": [
      {"hash": ")" + X2 +
                    R"(", "unpacked_length": 100, "range": {"start": 4, "end": 5}}],
    ")" + F2 + R"(": [
      {"hash": ")" + X1 +
                    R"(", "unpacked_length": 300, "range": {"start": 0, "end": 3}},
      {"hash": ")" + X2 +
                    R"(", "unpacked_length": 50, "range": {"start": 0, "end": 1}}]},
    "fetch_info": {")" +
                    X1 + R"(": [{"range": {"start": 0, "end": 3}, "url": "https://c/1",
                                     "url_range": {"start": 0, "end": 299}}],
                   ")" +
                    X2 + R"(": [{"range": {"start": 0, "end": 1}, "url": "https://c/2a",
                                     "url_range": {"start": 0, "end": 99}},
                                    {"range": {"start": 4, "end": 5}, "url": "https://c/2b",
                                     "url_range": {"start": 400, "end": 499}}]}})";
  auto r = parse_batch_reconstruction(doc);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const Reconstruction& one = r->at(F1);
  ASSERT_EQ(one.fetches.size(), 1u);
  EXPECT_EQ(one.fetches[one.terms[0].fetch].url, "https://c/2b");
  const Reconstruction& two = r->at(F2);
  ASSERT_EQ(two.fetches.size(), 2u);
  EXPECT_EQ(two.fetches[two.terms[0].fetch].url, "https://c/1");
  EXPECT_EQ(two.fetches[two.terms[1].fetch].url, "https://c/2a");
  EXPECT_EQ(two.unpacked_total(), 350u);
  // A term no fetch covers, a bad file id, or no `files`: the whole answer is refused.
  EXPECT_FALSE(parse_batch_reconstruction(R"({"fetch_info": {}})").ok());
  EXPECT_FALSE(parse_batch_reconstruction(R"({"files": {"x": []}, "fetch_info": {}})").ok());
  EXPECT_FALSE(parse_batch_reconstruction(R"({"files": {")" + F1 + R"(": [{"hash": ")" + X1 +
                                          R"(", "unpacked_length": 1, "range": {"start": 0,
                                          "end": 1}}]}, "fetch_info": {}})")
                   .ok());
}

}  // namespace
}  // namespace mb::xet
