// The cache door: every operation below the root refuses a planted link or FIFO at any step,
// names it, never blocks, and leaves what the link points to untouched. Each case runs with
// openat2 (where the kernel has it) and with the component walk.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/file.hpp"
#include "store/cache_door.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace mb {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Door : public ::testing::TestWithParam<Resolve> {
 protected:
  test::TempDir t;
  std::string root = t.path() + "/cache";
  std::string victim = t.path() + "/victim";
  std::string victim_file = t.path() + "/victim.txt";
  void SetUp() override {
    fs::create_directories(root);
    fs::create_directories(victim + "/sub");
    std::ofstream(victim + "/sub/keep.json") << "keep";
    std::ofstream(victim_file) << "precious";
    ::chmod(victim_file.c_str(), 0644);
  }
  CacheDoor door() { return CacheDoor(root, GetParam()); }
  void expect_victim_intact() {
    EXPECT_EQ(slurp(victim + "/sub/keep.json"), "keep");
    EXPECT_EQ(slurp(victim_file), "precious");
    struct stat st {};
    ASSERT_EQ(::stat(victim_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_EQ(std::distance(fs::directory_iterator(victim), fs::directory_iterator()), 1);
  }
  static void expect_names(const Status& st, const std::string& what) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().category, ErrorCategory::integrity) << st.error().message;
    EXPECT_NE(st.error().message.find(what), std::string::npos) << st.error().message;
  }
};

Status status_of(Result<UniqueFd> r) { return r.ok() ? Status{} : Status(r.take_error()); }

TEST_P(Door, CreatesFoldersAndRefusesALinkAtEveryStep) {
  CacheDoor d(root, GetParam());
  ASSERT_TRUE(d.make_dirs("a/b/c").ok());
  EXPECT_TRUE(fs::is_directory(root + "/a/b/c"));
  auto absent = d.open_dir("x/y", MissingDir::ok);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->valid());
  EXPECT_FALSE(fs::exists(root + "/x"));

  fs::create_directory_symlink(victim, root + "/a/link");
  expect_names(status_of(d.open_dir("a/link/sub", MissingDir::create)),
               root + "/a/link is a symbolic link (to " + victim + ")");
  expect_names(status_of(d.open_dir(root + "/a/link", MissingDir::ok)), "a/link");
  expect_names(d.make_dirs("a/link/new"), "a/link");
  expect_victim_intact();
}

TEST_P(Door, FifosAndFilesWhereFoldersBelongAreRefusedWithoutBlocking) {
  CacheDoor d(root, GetParam());
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0644), 0);
  std::ofstream(root + "/file") << "x";
  expect_names(status_of(d.open_dir("fifo/x", MissingDir::create)), root + "/fifo is a FIFO");
  expect_names(status_of(d.open_dir("file", MissingDir::ok)), root + "/file is");
  expect_names(status_of(d.open_file("fifo", O_RDONLY)), "fifo is not a regular file");
  expect_names(status_of(d.open_file("fifo", O_RDWR | O_CREAT)), "fifo is not a regular file");
  EXPECT_FALSE(d.read_file("fifo", 100).ok());
}

TEST_P(Door, LeafLinksAreNeverOpenedWrittenOrChmodded) {
  CacheDoor d(root, GetParam());
  ASSERT_TRUE(d.make_dirs("tmp").ok());
  fs::create_symlink(victim_file, root + "/tmp/e.partial");
  // What fetch does with a partial: open read-write, create if missing.
  expect_names(status_of(d.open_file("tmp/e.partial", O_RDWR | O_CREAT)),
               root + "/tmp/e.partial is a symbolic link (to " + victim_file + ")");
  expect_names(status_of(d.open_file("tmp/e.partial", O_RDONLY)), "tmp/e.partial");
  EXPECT_FALSE(d.read_file("tmp/e.partial", 100).ok());
  // A lock file planted as a link is not created or locked through.
  fs::create_symlink(t.path() + "/created-by-lock", root + "/tmp/x.lock");
  EXPECT_FALSE(d.lock("tmp/x.lock", LockMode::exclusive).ok());
  EXPECT_FALSE(fs::exists(t.path() + "/created-by-lock"));
  // Replacing the link by rename replaces the link, not its target.
  ASSERT_TRUE(d.write_file_atomic("tmp/e.partial", "new").ok());
  EXPECT_EQ(slurp(root + "/tmp/e.partial"), "new");
  expect_victim_intact();
}

TEST_P(Door, RemoveTreeRemovesLinksNeverWhatTheyPointTo) {
  CacheDoor d(root, GetParam());
  ASSERT_TRUE(d.make_dirs("repo/snapshots/c/deep").ok());
  std::ofstream(root + "/repo/snapshots/c/deep/f") << "f";
  fs::create_directory_symlink(victim, root + "/repo/snapshots/c/dirlink");
  fs::create_symlink(victim_file, root + "/repo/snapshots/c/deep/filelink");
  ASSERT_EQ(::mkfifo((root + "/repo/snapshots/c/fifo").c_str(), 0644), 0);
  ASSERT_TRUE(d.remove_tree("repo").ok());
  EXPECT_FALSE(fs::exists(root + "/repo"));
  expect_victim_intact();
  // A link where the tree should be is refused and named, not followed.
  fs::create_directory_symlink(victim, root + "/meta");
  expect_names(d.remove_tree("meta"), root + "/meta is a symbolic link");
  expect_victim_intact();
  EXPECT_TRUE(d.remove_tree("absent/too").ok());
}

TEST_P(Door, UnlinkRenameAndLinkNeverGoThroughALinkedFolder) {
  CacheDoor d(root, GetParam());
  ASSERT_TRUE(d.make_dirs("repo").ok());
  fs::create_directory_symlink(victim, root + "/repo/trees");
  expect_names(d.unlink("repo/trees/sub"), "repo/trees is a symbolic link");
  expect_names(d.remove_tree("repo/trees/sub"), "repo/trees");
  std::ofstream(root + "/repo/f") << "f";
  expect_names(d.rename("repo/f", "repo/trees/f"), "repo/trees");
  expect_names(d.hard_link("repo/f", "repo/trees/g"), "repo/trees");
  expect_names(d.symlink("x", "repo/trees/h"), "repo/trees");
  // A link as the source of a hard link is refused: no blob may become a link out.
  fs::create_symlink(victim_file, root + "/repo/obj");
  expect_names(d.hard_link("repo/obj", "repo/blob"), "repo/obj is a symbolic link");
  EXPECT_FALSE(fs::exists(root + "/repo/blob"));
  expect_victim_intact();
}

TEST_P(Door, AFolderSwappedForALinkAfterTheDoorOpenedIsRefused) {
  CacheDoor d(root, GetParam());
  ASSERT_TRUE(d.make_dirs(".locks/modelbake/tmp").ok());
  ASSERT_TRUE(d.write_file_atomic(".locks/modelbake/tmp/a", "a").ok());
  fs::rename(root + "/.locks/modelbake/tmp", root + "/.locks/modelbake/old");
  fs::create_directory_symlink(victim, root + "/.locks/modelbake/tmp");
  expect_names(d.write_file_atomic(".locks/modelbake/tmp/a", "b"), "modelbake/tmp is a symbolic");
  expect_names(status_of(d.open_file(".locks/modelbake/tmp/b", O_RDWR | O_CREAT)), "modelbake/tmp");
  expect_victim_intact();
}

TEST_P(Door, OnlySnapshotLinksOfTheExactShapeAreFollowed) {
  CacheDoor d(root, GetParam());
  std::string commit(40, 'c'), etag(64, 'e');
  std::string snap = "models--o--m/snapshots/" + commit;
  ASSERT_TRUE(d.make_dirs(snap + "/a/b").ok());
  ASSERT_TRUE(d.symlink("../../blobs/" + etag, snap + "/top").ok());
  ASSERT_TRUE(d.symlink("../../../../blobs/" + etag, snap + "/a/b/deep").ok());
  auto top = d.snapshot_blob(snap + "/top");
  ASSERT_TRUE(top.ok()) << top.error().message;
  EXPECT_EQ(**top, etag);
  auto deep = d.snapshot_blob(snap + "/a/b/deep");
  ASSERT_TRUE(deep.ok()) << deep.error().message;
  EXPECT_EQ(**deep, etag);
  EXPECT_FALSE(d.snapshot_blob(snap + "/absent")->has_value());
  for (const std::string& bad : std::vector<std::string>{
           "../../../blobs/" + etag, victim_file, "../../blobs/../../x",
           "../../../models--x--y/blobs/" + etag, "../../blobs/" + etag + "/x"}) {
    ASSERT_TRUE(d.unlink(snap + "/bad").ok());
    ASSERT_TRUE(d.symlink(bad, snap + "/bad").ok());
    auto r = d.snapshot_blob(snap + "/bad");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find(snap + "/bad links to"), std::string::npos);
  }
  // A snapshot folder not named by a commit is not a snapshot.
  ASSERT_TRUE(d.make_dirs("models--o--m/snapshots/settings").ok());
  ASSERT_TRUE(d.symlink("../../blobs/" + etag, "models--o--m/snapshots/settings/f").ok());
  EXPECT_FALSE(d.snapshot_blob("models--o--m/snapshots/settings/f").ok());
}

TEST_P(Door, PathsOutsideTheRootAndDotDotAreRefused) {
  CacheDoor d(root, GetParam());
  EXPECT_EQ(d.unlink(victim_file).error().category, ErrorCategory::usage);
  EXPECT_FALSE(d.unlink("a/../../victim.txt").ok());
  EXPECT_EQ(*d.relative(root + "/x/y"), "x/y");
  expect_victim_intact();
}

TEST_P(Door, ListReportsLinksAsLinks) {
  CacheDoor d(root, GetParam());
  fs::create_directory_symlink(victim, root + "/link");
  ASSERT_TRUE(d.make_dirs("dir").ok());
  auto l = d.list("");
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "dir");
  EXPECT_TRUE(S_ISDIR((*l)[0].st.st_mode));
  EXPECT_TRUE(S_ISLNK((*l)[1].st.st_mode));
  EXPECT_FALSE(d.list("link").ok());
  // Listing the root again (the root fd is shared, and so its directory offset) sees it all.
  auto again = d.list("");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(BothWays, Door, ::testing::Values(Resolve::automatic, Resolve::walk),
                         [](const auto& test_info) {
                           return test_info.param == Resolve::walk ? "ComponentWalk" : "Openat2";
                         });

// The automatic way keeps using openat2 on kernels that have it (it falls back for good only
// on ENOSYS/EPERM): a regression that made every open walk would still pass the tests above.
TEST(DoorOpenat2, StaysInUseOnKernelsThatHaveIt) {
  struct utsname u {};
  ASSERT_EQ(::uname(&u), 0);
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2 || major < 5 ||
      (major == 5 && minor < 6)) {
    GTEST_SKIP() << "kernel " << u.release << " has no openat2";
  }
  test::TempDir t;
  fs::create_directories(t.path() + "/a/b");
  fs::create_directory_symlink(t.path() + "/a", t.path() + "/link");
  CacheDoor d(t.path());
  ASSERT_TRUE(d.open_dir("a/b", MissingDir::ok).ok());
  EXPECT_FALSE(d.open_dir("link/b", MissingDir::ok).ok());
  EXPECT_TRUE(openat2_available());
}

}  // namespace
}  // namespace mb
