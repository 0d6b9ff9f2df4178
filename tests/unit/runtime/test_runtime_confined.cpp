// modelbake-verify's file access (issue 10 item 5) and its --timeout grammar.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.hpp"
#include "runtime/confined.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/watchdog.hpp"
#include "support/temp_dir.hpp"

namespace mb::runtime {
namespace {

using namespace std::chrono_literals;

struct Tree {
  test::TempDir tmp;
  std::string root = tmp.path() + "/root";
  std::string outside = tmp.path() + "/outside.json";
  Tree() {
    EXPECT_EQ(::mkdir(root.c_str(), 0755), 0);
    EXPECT_EQ(::mkdir((root + "/m").c_str(), 0755), 0);
    EXPECT_TRUE(write_file_atomic(root + "/m/config.json", "{}").ok());
    EXPECT_TRUE(write_file_atomic(outside, "[]").ok());
  }
};

TEST(Confined, FifoIsRefusedWithoutBlocking) {
  Tree t;
  const std::string fifo = t.root + "/m/modules.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  auto fd = open_regular(fifo);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("not a regular file (a FIFO)"), std::string::npos);
  auto c = Confinement::of(t.root);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->read(fifo).ok());
}

TEST(Confined, DeviceAndDirectoryAreRefused) {
  EXPECT_FALSE(open_regular("/dev/null").ok());
  Tree t;
  auto r = read_regular(t.root + "/m");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("a directory"), std::string::npos);
}

TEST(Confined, LinkOutOfRootIsRefusedLinkInsideIsFollowed) {
  Tree t;
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/m/modules.json").c_str()), 0);
  ASSERT_EQ(::symlink("config.json", (t.root + "/m/alias.json").c_str()), 0);
  auto c = Confinement::of(t.root);
  ASSERT_TRUE(c.ok());
  auto out = c->read(t.root + "/m/modules.json");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message.find("resolves outside"), std::string::npos);
  auto in = c->read(t.root + "/m/alias.json");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(*in, "{}");
}

TEST(Confined, SiblingWithRootAsPrefixIsOutside) {
  Tree t;
  auto c = Confinement::of(t.root);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->contains(c->real_root() + "/m/x"));
  EXPECT_FALSE(c->contains(c->real_root() + "2/x"));
  EXPECT_FALSE(c->contains("/etc/passwd"));
}

TEST(Confined, ModelFilesRecordsUnlockedReads) {
  Tree t;
  ASSERT_TRUE(write_file_atomic(t.root + "/m/tokenizer.json", "{}").ok());
  auto c = Confinement::of(t.root);
  ASSERT_TRUE(c.ok());
  infer::ModelFiles files(t.root + "/m", *c, {"config.json"});
  EXPECT_TRUE(files.read("config.json").ok());
  EXPECT_TRUE(files.unverified().empty());
  EXPECT_TRUE(files.read("tokenizer.json").ok());
  EXPECT_EQ(files.unverified(), std::set<std::string>{"tokenizer.json"});
  ASSERT_EQ(::symlink(t.outside.c_str(), (t.root + "/m/modules.json").c_str()), 0);
  auto out = files.read("modules.json");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message.rfind("modules.json resolves outside", 0), 0u)
      << out.error().message;
}

TEST(Duration, Grammar) {
  EXPECT_EQ(parse_duration("250ms"), 250ms);
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("10"), 10s);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  for (const char* bad :
       {"", "0", "0s", "s", "1.5s", "-1s", "10 s", "10sec", "25h", "1234567890"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace mb::runtime
