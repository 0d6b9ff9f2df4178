// `modelbake status` and `fetch --locked` judge a lock entry by the same rule: status_requests
// hands manifest's lock_entry_difference to verify::compute_status.
#include <gtest/gtest.h>

#include "cli/cache_json.hpp"
#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"

using namespace mb;
using mb::cli::status_json;
using mb::cli::status_requests;

namespace {

TEST(CliStatus, PinnedRevisionWithAnotherLockedCommitIsStaleLikeFetchLocked) {
  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  ASSERT_TRUE(store.init().ok());
  const std::string pinned(40, 'b');
  const std::string other(40, 'c');
  Manifest manifest;
  ManifestModel mm;
  mm.repo = "org/m";
  mm.revision = pinned;
  manifest.models.push_back(mm);
  // The cache holds a complete model at another commit than the manifest pins.
  Lockfile lock;
  lock.models.push_back(test::add_model(store, lock_skeleton(mm).name, "org/m", pinned, other,
                                        {{"config.json", "{}"}}));
  ASSERT_FALSE(lock_matches_manifest(manifest, lock).ok());  // fetch --locked refuses

  auto entries = verify::compute_status(status_requests(manifest), &lock, store.layout(), false);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].state, verify::ModelState::stale_lock);
  EXPECT_NE((*entries)[0].detail.find("locked commit differs"), std::string::npos);
}

TEST(CliStatus, MatchingLockAndCompleteCacheIsReady) {
  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  ASSERT_TRUE(store.init().ok());
  Manifest manifest;
  ManifestModel mm;
  mm.repo = "org/m";
  manifest.models.push_back(mm);
  Lockfile lock;
  lock.models.push_back(test::add_model(store, lock_skeleton(mm).name, "org/m", "main",
                                        std::string(40, 'a'), {{"config.json", "{}"}}));
  ASSERT_TRUE(lock_matches_manifest(manifest, lock).ok());
  auto entries = verify::compute_status(status_requests(manifest), &lock, store.layout(), true);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ((*entries)[0].state, verify::ModelState::ready) << (*entries)[0].detail;
  EXPECT_EQ(status_json(*entries, dir.path(), true)["models"][0]["state"], "ready");
}

}  // namespace
