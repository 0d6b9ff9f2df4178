#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/file.hpp"
#include "support/temp_dir.hpp"

namespace mb {
namespace {

// A planted FIFO would block open(2) until a writer appears: every read by path must refuse
// it at once (the test hangs, and CTest's timeout fails it, if it does not).
TEST(ReadFile, RefusesAFifoWithoutBlocking) {
  test::TempDir dir;
  std::string fifo = dir.path() + "/modelbake.lock";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto text = read_file(fifo);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().category, ErrorCategory::integrity);
  EXPECT_NE(text.error().message.find("not a regular file (a FIFO)"), std::string::npos);
  EXPECT_FALSE(open_read(fifo).ok());
}

TEST(ReadFile, RefusesADirectory) {
  test::TempDir dir;
  auto text = read_file(dir.path());
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.error().message.find("a directory"), std::string::npos);
}

TEST(ReadFile, ReadsRegularFilesBlocking) {
  test::TempDir dir;
  std::string path = dir.path() + "/x";
  ASSERT_TRUE(write_file_atomic(path, "hello").ok());
  auto text = read_file(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "hello");
}

}  // namespace
}  // namespace mb

namespace mb {
namespace {

// Issue 12: one temp-name scheme, the one gc and the store recognise.
TEST(TempPathFor, IsBaseDotTmpDotEightHex) {
  std::string t = temp_path_for("/c/tmp/abc");
  ASSERT_EQ(t.size(), std::string("/c/tmp/abc.tmp.").size() + 8);
  EXPECT_EQ(t.rfind("/c/tmp/abc.tmp.", 0), 0u);
  EXPECT_EQ(t.find_first_not_of("0123456789abcdef", 15), std::string::npos);
  EXPECT_NE(temp_path_for("/c/tmp/abc"), t);
}

TEST(TempPathFor, AtomicFileUsesIt) {
  test::TempDir dir;
  auto f = AtomicFile::create(dir.path() + "/out.json");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->temp_path().rfind(dir.path() + "/out.json.tmp.", 0), 0u) << f->temp_path();
}

TEST(CopyFileSynced, CopiesAllBytesIntoANewFile) {
  test::TempDir dir;
  std::string src = dir.path() + "/src", temp = dir.path() + "/dst.tmp.0000abcd";
  std::string content(300 * 1024 + 7, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31);
  ASSERT_TRUE(write_file_atomic(src, content).ok());
  ASSERT_TRUE(copy_file_synced(src, temp).ok());
  auto got = read_file(temp);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, content);
}

TEST(CopyFileSynced, NeverOverwritesAnExistingTemp) {
  test::TempDir dir;
  std::string src = dir.path() + "/src", temp = dir.path() + "/dst.tmp.0000abcd";
  ASSERT_TRUE(write_file_atomic(src, "new").ok());
  ASSERT_TRUE(write_file_atomic(temp, "someone else's").ok());
  EXPECT_FALSE(copy_file_synced(src, temp).ok());
  EXPECT_EQ(*read_file(temp), "someone else's");
}

TEST(CopyFileSynced, MissingSourceLeavesNoTemp) {
  test::TempDir dir;
  std::string temp = dir.path() + "/dst.tmp.0000abcd";
  EXPECT_FALSE(copy_file_synced(dir.path() + "/absent", temp).ok());
  struct stat st {};
  EXPECT_NE(::lstat(temp.c_str(), &st), 0);
}

}  // namespace
}  // namespace mb
