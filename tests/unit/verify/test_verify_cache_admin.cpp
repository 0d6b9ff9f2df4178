#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <filesystem>

#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"
#include "verify/cache_admin.hpp"
#include "verify/integrity.hpp"

namespace fs = std::filesystem;
using namespace mb;
using mb::verify::GcActionKind;

namespace {

const std::string k_a = std::string(40, 'a');
const std::string k_b = std::string(40, 'b');
const std::string k_c = std::string(40, 'c');
constexpr int64_t k_now = 1'800'000'000;

class CacheAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.init().ok());
    // old: used long ago; shared: same weights as "new" (one object on disk); new: recent.
    old_m = test::add_model(
        store, "old", "org/old", "main", k_a,
        {{"config.json", "{\"o\":1}"}, {"model.safetensors", std::string(20000, 'o')}});
    new_m = test::add_model(
        store, "new", "org/new", "main", k_b,
        {{"config.json", "{\"n\":1}"}, {"model.safetensors", std::string(30000, 'n')}});
    twin_m = test::add_model(store, "twin", "org/twin", "v1", k_c,
                             {{"model.safetensors", std::string(30000, 'n')}});
    ASSERT_TRUE(store.record_snapshot_use(old_m, k_now - 1000, true).ok());
    ASSERT_TRUE(store.record_snapshot_use(new_m, k_now - 10, true).ok());
    ASSERT_TRUE(store.record_snapshot_use(twin_m, k_now - 500, true).ok());
  }
  static size_t count(const verify::GcReport& r, GcActionKind k) {
    return static_cast<size_t>(std::count_if(r.actions.begin(), r.actions.end(),
                                             [&](const auto& a) { return a.kind == k; }));
  }
  bool ready(const LockedModel& m) {
    Lockfile l;
    l.models.push_back(m);
    auto r = verify::verify_cache(store.layout(), l, {});
    return r.ok() && r->ok();
  }

  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  LockedModel old_m, new_m, twin_m;
};

TEST_F(CacheAdminTest, ScanListsReposRevisionsRefsAndTimes) {
  auto repos = verify::scan_cache(store.layout());
  ASSERT_TRUE(repos.ok());
  ASSERT_EQ(repos->size(), 3u);
  const auto& r = (*repos)[0];
  EXPECT_EQ(r.repo, "org/new");
  ASSERT_EQ(r.revisions.size(), 1u);
  EXPECT_EQ(r.revisions[0].commit, k_b);
  EXPECT_EQ(r.revisions[0].refs, std::vector<std::string>{"main"});
  EXPECT_EQ(r.revisions[0].files, 2u);
  EXPECT_EQ(r.revisions[0].bytes, new_m.total_bytes());
  EXPECT_EQ(r.revisions[0].last_used, k_now - 10);
}

TEST_F(CacheAdminTest, DiskUsageCountsSharedContentOnce) {
  auto du = verify::disk_usage(store.layout());
  ASSERT_TRUE(du.ok());
  uint64_t unique = old_m.total_bytes() + new_m.total_bytes();  // twin shares new's weights
  EXPECT_GE(du->apparent_bytes, unique);
  EXPECT_LT(du->apparent_bytes, unique + 30000);  // the shared 30000 bytes are not counted twice
  // objects + repo blobs: each hard link is counted by naive tools.
  EXPECT_GE(du->linked_bytes, 2 * unique + 30000);
}

TEST_F(CacheAdminTest, GcRemovesOnlyUnreferencedBlobsAndOrphanObjects) {
  // A blob no snapshot points at, and an object no blob links.
  std::string stray_blob =
      store.layout().blob_path(RepoType::model, "org/old", std::string(40, 'e'));
  ASSERT_TRUE(write_file_atomic(stray_blob, "stray").ok());
  std::string orphan_sha = sha256_hex("orphan");
  std::string temp = store.new_temp_path(orphan_sha);
  ASSERT_TRUE(write_file_atomic(temp, "orphan").ok());
  ASSERT_TRUE(store.adopt_object(temp, orphan_sha).ok());

  verify::GcOptions o;
  o.now = k_now;
  o.dry_run = true;
  auto dry = verify::gc_cache(store, o);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(count(*dry, GcActionKind::unreferenced_blob), 1u);
  EXPECT_EQ(count(*dry, GcActionKind::orphan_object), 1u);
  EXPECT_TRUE(fs::exists(stray_blob));  // dry run touches nothing

  o.dry_run = false;
  auto real = verify::gc_cache(store, o);
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->actions.size(), dry->actions.size());
  EXPECT_FALSE(fs::exists(stray_blob));
  EXPECT_FALSE(store.has_object(orphan_sha));
  EXPECT_TRUE(ready(old_m) && ready(new_m) && ready(twin_m));
}

TEST_F(CacheAdminTest, MaxSizeEvictsLeastRecentlyUsedUnpinnedRevisionsRefFirst) {
  verify::GcOptions o;
  o.now = k_now;
  o.dry_run = true;
  auto before = verify::gc_cache(store, o);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->actions.empty());
  o.dry_run = false;
  // Room for everything but "old": it is the least recently used and not pinned.
  o.max_size = before->disk_before - 1;
  Lockfile pins;
  pins.models = {new_m};
  o.pins = verify::pins_of(pins);
  auto r = verify::gc_cache(store, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(count(*r, GcActionKind::evict_revision), 1u);
  EXPECT_EQ(r->actions[0].commit, k_a);
  EXPECT_FALSE(fs::exists(store.layout().repo_dir(RepoType::model, "org/old")));
  EXPECT_TRUE(ready(new_m) && ready(twin_m));
  EXPECT_LT(r->disk_after, r->disk_before);

  // A limit below what the pins need: everything unpinned goes, the pinned model stays.
  o.max_size = 1;
  r = verify::gc_cache(store, o);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->limit_reached);
  EXPECT_TRUE(ready(new_m));
  EXPECT_FALSE(ready(twin_m));
  EXPECT_TRUE(store.has_object(new_m.find_file("model.safetensors")->sha256));
}

TEST_F(CacheAdminTest, OnlyOldTempFilesAreSwept) {
  std::string fresh = store.layout().tmp_dir() + "/fresh.tmp";
  std::string stale = store.layout().tmp_dir() + "/stale.tmp";
  std::string incomplete = store.layout().blob_path(RepoType::model, "org/new", "abc.incomplete");
  for (const auto& p : {fresh, stale, incomplete}) ASSERT_TRUE(write_file_atomic(p, "x").ok());
  struct utimbuf old_time {
    k_now - 2 * 86400, k_now - 2 * 86400
  };
  ::utime(stale.c_str(), &old_time);
  ::utime(incomplete.c_str(), &old_time);
  struct utimbuf new_time {
    k_now - 60, k_now - 60
  };
  ::utime(fresh.c_str(), &new_time);
  verify::GcOptions o;
  o.now = k_now;
  auto r = verify::gc_cache(store, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(count(*r, GcActionKind::stale_temp), 2u);
  EXPECT_TRUE(fs::exists(fresh));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(incomplete));
}

TEST_F(CacheAdminTest, RmRevisionKeepsSharedContentOfOtherRepos) {
  auto r = verify::remove_repo(store, RepoType::model, "org/new", "main", k_now);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(ready(new_m));
  EXPECT_TRUE(ready(twin_m));  // shares the weights object with org/new
  EXPECT_TRUE(ready(old_m));
  EXPECT_FALSE(fs::exists(store.layout().repo_dir(RepoType::model, "org/new")));

  auto missing = verify::remove_repo(store, RepoType::model, "org/nothing", "", k_now);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().category, ErrorCategory::usage);
  auto bad_rev = verify::remove_repo(store, RepoType::model, "org/twin", "v9", k_now);
  ASSERT_FALSE(bad_rev.ok());
  EXPECT_TRUE(ready(twin_m));
}

TEST_F(CacheAdminTest, RmWholeRepo) {
  auto r = verify::remove_repo(store, RepoType::model, "org/old", "", k_now);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(fs::exists(store.layout().repo_dir(RepoType::model, "org/old")));
  EXPECT_FALSE(store.has_object(old_m.find_file("model.safetensors")->sha256));
  EXPECT_TRUE(ready(new_m) && ready(twin_m));
}

// A Xet chunk index (fetch/xet_index.hpp) belongs to one object: gc and rm remove it with the
// object, and gc sweeps those whose object is gone already; shared objects keep theirs.
TEST_F(CacheAdminTest, GcAndRmRemoveTheXetIndexesOfRemovedObjects) {
  std::string old_w = old_m.find_file("model.safetensors")->sha256;
  std::string new_w = new_m.find_file("model.safetensors")->sha256;
  std::string orphan = sha256_hex("orphan");
  std::string temp = store.new_temp_path(orphan);
  ASSERT_TRUE(write_file_atomic(temp, "orphan").ok());
  ASSERT_TRUE(store.adopt_object(temp, orphan).ok());
  std::string gone = sha256_hex("never stored");
  for (const auto& sha : {old_w, new_w, orphan, gone})
    ASSERT_TRUE(store.save_xet_index(sha, "xet-chunks 1\n").ok());
  auto indexed = [&](const std::string& sha) {
    return fs::exists(store.layout().private_dir() + "/xet/" + sha);
  };
  verify::GcOptions o;
  o.now = k_now;
  o.dry_run = true;
  auto dry = verify::gc_cache(store, o);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(count(*dry, GcActionKind::xet_index), 2u);
  EXPECT_TRUE(indexed(orphan) && indexed(gone));
  o.dry_run = false;
  ASSERT_TRUE(verify::gc_cache(store, o).ok());
  EXPECT_FALSE(indexed(orphan));
  EXPECT_FALSE(indexed(gone));
  EXPECT_TRUE(indexed(old_w) && indexed(new_w));

  auto rm = verify::remove_repo(store, RepoType::model, "org/old", "", k_now);
  ASSERT_TRUE(rm.ok());
  EXPECT_EQ(count(*rm, GcActionKind::xet_index), 1u);
  EXPECT_FALSE(indexed(old_w));
  ASSERT_TRUE(verify::remove_repo(store, RepoType::model, "org/new", "", k_now).ok());
  EXPECT_TRUE(indexed(new_w));  // org/twin still holds the same weights
  ASSERT_TRUE(verify::remove_repo(store, RepoType::model, "org/twin", "", k_now).ok());
  EXPECT_FALSE(indexed(new_w));
}

TEST(RepoTarget, RepoOrRepoAtRevision) {
  auto whole = verify::parse_repo_target("org/m");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->repo, "org/m");
  EXPECT_EQ(whole->revision, "");
  auto one = verify::parse_repo_target("org/m@v1.0");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->repo, "org/m");
  EXPECT_EQ(one->revision, "v1.0");
  auto empty = verify::parse_repo_target("org/m@");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().category, ErrorCategory::usage);
  EXPECT_EQ(empty.error().hint, "use REPO or REPO@REVISION");
}

}  // namespace
