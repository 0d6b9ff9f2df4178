#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"
#include "verify/repair.hpp"

namespace fs = std::filesystem;
using namespace mb;

namespace {

const std::string k_commit = std::string(40, 'a');

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.init().ok());
    lock.models.push_back(test::add_model(store, "mini", "org/mini", "main", k_commit,
                                          {{"config.json", "{\"a\":1}"},
                                           {"model.safetensors", std::string(3000, 'm')},
                                           {"sub/tok.json", "{}"}}));
  }
  verify::VerifyReport check() {
    auto r = verify::verify_cache(store.layout(), lock, {});
    EXPECT_TRUE(r.ok());
    return *r;
  }
  verify::RepairResult repair() {
    auto r = verify::repair_locally(store, lock, check());
    EXPECT_TRUE(r.ok());
    return *r;
  }
  std::string snap(const std::string& p) const {
    return store.layout().snapshot_file(RepoType::model, "org/mini", k_commit, p);
  }
  const LockedFile& file(const std::string& p) const { return *lock.models[0].find_file(p); }

  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  Lockfile lock;
};

TEST_F(RepairTest, LayoutDamageIsRestoredFromTheObjectStoreWithoutFetching) {
  fs::remove(snap("config.json"));  // missing
  fs::remove(store.layout().blob_path(RepoType::model, "org/mini",
                                      file("sub/tok.json").etag));  // dangling
  ASSERT_TRUE(write_file_atomic(store.layout().ref_path(RepoType::model, "org/mini", "main"),
                                k_commit + "\n")
                  .ok());  // newline
  std::string trees = store.layout().trees_file(RepoType::model, "org/mini", k_commit);
  ASSERT_TRUE(write_file_atomic(trees, R"({"format_version":1,"files":{"gone.bin":{}}})").ok());
  ASSERT_EQ(check().findings.size(), 4u);

  auto r = repair();
  EXPECT_TRUE(r.needs_fetch.empty());
  EXPECT_FALSE(fs::exists(trees));
  EXPECT_TRUE(check().ok());
}

TEST_F(RepairTest, EscapingLinkIsReplacedByTheCacheLink) {
  test::TempDir outside;
  ASSERT_TRUE(write_file_atomic(outside.path() + "/x", "{\"a\":1}").ok());
  fs::remove(snap("config.json"));
  fs::create_symlink(outside.path() + "/x", snap("config.json"));
  auto r = repair();
  EXPECT_TRUE(r.needs_fetch.empty());
  EXPECT_TRUE(fs::exists(outside.path() + "/x"));  // never deletes outside the cache
  EXPECT_EQ(fs::read_symlink(snap("config.json")).string(),
            "../../blobs/" + file("config.json").etag);
  EXPECT_TRUE(check().ok());
}

TEST_F(RepairTest, CorruptContentIsRemovedEverywhereAndLeftToFetch) {
  std::string object = store.layout().object_path(file("model.safetensors").sha256);
  test::overwrite(object, "Z");
  auto r = repair();
  EXPECT_EQ(r.needs_fetch, std::set<std::string>{"mini"});
  EXPECT_FALSE(fs::exists(object));
  EXPECT_FALSE(fs::exists(
      store.layout().blob_path(RepoType::model, "org/mini", file("model.safetensors").etag)));
  EXPECT_FALSE(fs::exists(fs::symlink_status(snap("model.safetensors"))));
  // What is left is a hole, never a wrong file: exactly one missing file.
  auto after = check();
  ASSERT_EQ(after.findings.size(), 1u);
  EXPECT_EQ(after.findings[0].kind, verify::FindingKind::missing_file);
  EXPECT_EQ(after.findings[0].path, "model.safetensors");
}

}  // namespace

namespace {

// Issue 11.3: links left next to their final name by a killed older fetch, and links to
// nothing, make the snapshot not ready; --repair removes them. Working links that this lock
// does not list (another lock may select them) are left alone.
TEST_F(RepairTest, LeftoverTempsAndBrokenLinksInASnapshotAreReportedAndRemoved) {
  std::string target = CacheLayout::snapshot_link_target("config.json", file("config.json").etag);
  fs::create_symlink(target, snap("config.json.tmp.0badc0de"));
  fs::create_symlink("../../blobs/" + std::string(40, 'f'), snap("ghost.json"));
  fs::create_symlink("../../../etc/passwd", snap("sub/escape"));
  fs::create_symlink(target, snap("other-lock.json"));  // works: not a finding
  auto report = check();
  ASSERT_EQ(report.findings.size(), 3u);
  for (const auto& x : report.findings) {
    EXPECT_EQ(x.kind, verify::FindingKind::unexpected_entry) << x.message;
  }
  EXPECT_FALSE(report.models[0].ready());
  EXPECT_NE(report.findings[0].message.find("leftover temporary entry"), std::string::npos)
      << report.findings[0].message;

  auto fixed = repair();
  EXPECT_EQ(fixed.removed.size(), 3u);
  EXPECT_TRUE(fixed.needs_fetch.empty());
  EXPECT_FALSE(fs::exists(fs::symlink_status(snap("config.json.tmp.0badc0de"))));
  EXPECT_TRUE(fs::is_symlink(snap("other-lock.json")));
  EXPECT_TRUE(check().ok());
}

TEST_F(RepairTest, NothingIsRemovedThroughALinkedSnapshotFolder) {
  test::TempDir victim;
  std::string snapdir = store.layout().snapshot_dir(RepoType::model, "org/mini", k_commit);
  fs::rename(snapdir, victim.path() + "/moved");
  ASSERT_TRUE(write_file_atomic(victim.path() + "/moved/x.tmp.0badc0de", "keep").ok());
  fs::create_directory_symlink(victim.path() + "/moved", snapdir);
  auto r = verify::repair_locally(store, lock, check());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::integrity);
  EXPECT_TRUE(fs::exists(victim.path() + "/moved/x.tmp.0badc0de"));
}

}  // namespace
