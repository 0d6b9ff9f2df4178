#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "core/file.hpp"
#include "store/cache_door.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"

namespace fs = std::filesystem;

namespace mb {
namespace {

std::set<std::string> names_under(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    out.insert(it->path().lexically_relative(dir).string());
  }
  return out;
}

TEST(TempNames, OneSchemeOneRecogniser) {
  EXPECT_EQ(temp_kind("config.json.tmp.0123abcd"), TempKind::ours);
  EXPECT_EQ(temp_kind("abc.0123abcd.tmp"), TempKind::ours);  // earlier versions' scheme
  EXPECT_EQ(temp_kind("abc.incomplete"), TempKind::hub_download);
  EXPECT_EQ(temp_kind("config.json"), TempKind::none);
  EXPECT_EQ(temp_kind("notes.tmp.txt"), TempKind::none);
  EXPECT_EQ(temp_kind("data.tmp"), TempKind::none);
  EXPECT_EQ(temp_kind("x.tmp.0123ABCD"), TempKind::none);
  EXPECT_EQ(temp_kind(".tmp.0123abcd"), TempKind::none);
  EXPECT_EQ(temp_kind(".incomplete"), TempKind::none);
  // The names modelbake makes are the ones it recognises, files and staging folders alike.
  for (const char* base : {"/x/config.json", "/c/.locks/modelbake/tmp/import", "/out/.bundle"})
    EXPECT_EQ(temp_kind(fs::path(temp_path_for(base)).filename().string()), TempKind::ours);
}

class StoreTest : public ::testing::Test {
 protected:
  test::TempDir t;
  Store store{CacheLayout(t.path() + "/cache")};
  void SetUp() override { ASSERT_TRUE(store.init().ok()); }
};

TEST_F(StoreTest, PrivateStateLivesUnderLocks) {
  EXPECT_EQ(store.layout().private_dir(), t.path() + "/cache/.locks/modelbake");
  EXPECT_TRUE(fs::is_directory(store.layout().objects_dir()));
  EXPECT_FALSE(fs::exists(t.path() + "/cache/.modelbake"));
}

TEST_F(StoreTest, PublishingLeavesOnlyFinalNamesInTheHubView) {
  LockedModel m =
      test::add_model(store, "m", "org/m", "v1", std::string(40, 'c'),
                      {{"a/b/c.json", "{}"}, {"model.safetensors", std::string(100, 'w')}});
  // Publishing again (same and changed targets) goes through the same temp path.
  ASSERT_TRUE(store.publish_file(m, m.files[0]).ok());
  std::string repo = store.layout().repo_dir(RepoType::model, "org/m");
  std::set<std::string> expected = {"blobs",
                                    "blobs/" + m.files[0].etag,
                                    "blobs/" + m.files[1].etag,
                                    "refs",
                                    "refs/v1",
                                    "snapshots",
                                    "snapshots/" + m.commit,
                                    "snapshots/" + m.commit + "/a",
                                    "snapshots/" + m.commit + "/a/b",
                                    "snapshots/" + m.commit + "/a/b/c.json",
                                    "snapshots/" + m.commit + "/model.safetensors"};
  EXPECT_EQ(names_under(repo), expected);
  EXPECT_EQ(names_under(store.layout().tmp_dir()), std::set<std::string>{});
}

TEST_F(StoreTest, PlantedBlobsLinkIsRefusedAndNothingIsWrittenThrough) {
  std::string victim = t.path() + "/victim";
  fs::create_directory(victim);
  std::string repo = store.layout().repo_dir(RepoType::model, "org/evil");
  fs::create_directories(repo);
  fs::create_directory_symlink(victim, repo + "/blobs");
  LockedModel m;
  m.name = "evil";
  m.repo = "org/evil";
  m.revision = m.commit = std::string(40, 'e');
  LockedFile f = test::locked_file("x.bin", "payload", true);
  std::string temp = store.new_temp_path(f.sha256);
  ASSERT_TRUE(write_file_atomic(temp, "payload").ok());
  ASSERT_TRUE(store.adopt_object(temp, f.sha256).ok());
  EXPECT_FALSE(store.check_repo_dirs(RepoType::model, "org/evil").ok());
  auto st = store.publish_file(m, f);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::integrity);
  EXPECT_TRUE(fs::is_empty(victim));
}

TEST(StoreMigration, LegacyPrivateFolderIsRenamedWithItsObjects) {
  test::TempDir t;
  std::string root = t.path() + "/cache";
  LockedModel m;
  {
    Store old{CacheLayout(root)};
    ASSERT_TRUE(old.init().ok());
    m = test::add_model(old, "m", "org/m", "main", std::string(40, 'a'), {{"w.bin", "weights"}});
    fs::rename(root + "/.locks/modelbake", root + "/.modelbake");
    fs::remove(root + "/.locks");
  }
  struct stat before {};
  ASSERT_EQ(::stat((root + "/.modelbake/objects/sha256/" + m.files[0].sha256.substr(0, 2) + "/" +
                    m.files[0].sha256.substr(2))
                       .c_str(),
                   &before),
            0);
  Store store{CacheLayout(root)};
  ASSERT_TRUE(store.init().ok());
  EXPECT_FALSE(fs::exists(root + "/.modelbake"));
  struct stat after {};
  ASSERT_EQ(::stat(store.layout().object_path(m.files[0].sha256).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_TRUE(store.has_object(m.files[0].sha256));
}

}  // namespace
}  // namespace mb
