#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "core/hash.hpp"
#include "fetch/xet_hash_trail.hpp"
#include "support/temp_dir.hpp"

namespace mb::fetch {
namespace {

constexpr uint64_t k_cp = XetHashTrail::k_checkpoint;

class XetHashTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content.resize(2 * k_cp + 12345);
    for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 % 251);
    fd = ::open((dir.path() + "/f").c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, content.data(), content.size(), 0),
              static_cast<ssize_t>(content.size()));
  }
  void TearDown() override { ::close(fd); }

  test::TempDir dir;
  std::string content;
  int fd = -1;
};

TEST_F(XetHashTrailTest, DigestOfThePrefixAsItGrows) {
  XetHashTrail trail(fd, content.size(), "f");
  // Out of order and repeated, as finished terms report it.
  trail.advance(1000);
  trail.advance(500);
  trail.advance(k_cp + 7);
  auto sha = trail.finish();  // advances to the end itself
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, sha256_hex(content));
  EXPECT_EQ(trail.rehashed_bytes(), 0u);
}

// After a repair rewrote a byte, only the file from the checkpoint before it is read again.
TEST_F(XetHashTrailTest, RehashStartsAtTheCheckpointBeforeTheChange) {
  XetHashTrail trail(fd, content.size(), "f");
  ASSERT_TRUE(trail.finish().ok());
  uint64_t at = k_cp + k_cp / 2;
  content[at] = static_cast<char>(content[at] ^ 0x5a);
  ASSERT_EQ(::pwrite(fd, content.data() + at, 1, static_cast<off_t>(at)), 1);
  auto sha = trail.rehash_from(at);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, sha256_hex(content));
  EXPECT_EQ(trail.rehashed_bytes(), content.size() - k_cp);
  // A change before the first checkpoint: from the start; the later checkpoints are redone.
  content[10] = 'x';
  ASSERT_EQ(::pwrite(fd, content.data() + 10, 1, 10), 1);
  ASSERT_EQ(trail.rehash_from(10).value(), sha256_hex(content));
  content[2 * k_cp + 1] = 'y';
  ASSERT_EQ(::pwrite(fd, content.data() + 2 * k_cp + 1, 1, 2 * k_cp + 1), 1);
  uint64_t before = trail.rehashed_bytes();
  ASSERT_EQ(trail.rehash_from(2 * k_cp + 1).value(), sha256_hex(content));
  EXPECT_EQ(trail.rehashed_bytes() - before, content.size() - 2 * k_cp);
}

}  // namespace
}  // namespace mb::fetch
