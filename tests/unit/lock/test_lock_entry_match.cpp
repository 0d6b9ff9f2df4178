#include <gtest/gtest.h>

#include "lock/entry_match.hpp"

namespace mb {
namespace {

const std::string k_sha_a(64, 'a');
const std::string k_sha_b(64, 'b');
const std::string k_git_1(40, '1');
const std::string k_git_2(40, '2');

FileDigests digests(uint64_t size, std::string sha256, std::string git_sha1 = "") {
  return {size, std::move(sha256), std::move(git_sha1)};
}

TEST(EntryMatch, LfsEntryMatchesItsSizeAndSha256) {
  LockedFile f{"w.bin", 10, k_sha_a, k_sha_a};
  EXPECT_TRUE(match_entry(EntryExpectation::of(f), digests(10, k_sha_a)).ok());
  EXPECT_EQ(digests_needed(EntryExpectation::of(f)), WithGitSha1::no);
}

TEST(EntryMatch, SizeIsCheckedFirst) {
  LockedFile f{"w.bin", 10, k_sha_a, k_sha_a};
  EntryMatch m = match_entry(EntryExpectation::of(f), digests(11, k_sha_b));
  EXPECT_EQ(m.kind, EntryMismatch::size);
  EXPECT_EQ(m.describe(), "has 11 bytes, the lock says 10");
}

TEST(EntryMatch, LfsEtagIsASha256EvenBeforeTheLockKnowsOne) {
  EntryExpectation want{std::nullopt, "", k_sha_a};  // lock time: only the etag is known
  EntryMatch m = match_entry(want, digests(3, k_sha_b));
  EXPECT_EQ(m.kind, EntryMismatch::sha256);
  EXPECT_EQ(m.expected, k_sha_a);
  EXPECT_EQ(m.actual, k_sha_b);
}

TEST(EntryMatch, SmallFileNeedsBothSha256AndGitBlobSha1) {
  LockedFile f{"config.json", 5, k_sha_a, k_git_1};
  EntryExpectation want = EntryExpectation::of(f);
  EXPECT_EQ(digests_needed(want), WithGitSha1::yes);
  EXPECT_TRUE(match_entry(want, digests(5, k_sha_a, k_git_1)).ok());
  EXPECT_EQ(match_entry(want, digests(5, k_sha_b, k_git_1)).kind, EntryMismatch::sha256);
  EntryMatch m = match_entry(want, digests(5, k_sha_a, k_git_2));
  EXPECT_EQ(m.kind, EntryMismatch::git_sha1);
  EXPECT_NE(m.describe().find("git blob sha1 " + k_git_2), std::string::npos);
}

TEST(EntryMatch, UnknownSizeAndSha256AreNotChecked) {
  EntryExpectation want{std::nullopt, "", k_git_1};
  EXPECT_TRUE(match_entry(want, digests(999, k_sha_b, k_git_1)).ok());
  EXPECT_FALSE(match_entry(want, digests(999, k_sha_b, "")).ok());  // sha1 not computed
}

}  // namespace
}  // namespace mb
