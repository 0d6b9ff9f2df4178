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
