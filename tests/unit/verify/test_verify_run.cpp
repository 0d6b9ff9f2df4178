// verify::run_verify / run_status: the decisions of `modelbake verify [--repair]` and
// `modelbake status` (lock missing or unreadable, what --repair hands to the hub, exit codes).
#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"
#include "verify/run.hpp"
#include "verify/status.hpp"

namespace fs = std::filesystem;
using namespace mb;

namespace {

const std::string k_run_commit(40, 'a');

struct VerifyRig {
  test::TempDir dir;
  Store store{CacheLayout(dir.path() + "/cache")};
  Lockfile lock;
  verify::VerifyRequest request;
  std::vector<std::set<std::string>> fetches;  // what --repair asked the hub for
  Status fetch_result;

  VerifyRig() {
    EXPECT_TRUE(store.init().ok());
    lock.models.push_back(test::add_model(
        store, "mini", "org/mini", "main", k_run_commit,
        {{"config.json", "{\"a\":1}"}, {"model.safetensors", std::string(3000, 'm')}}));
    request.lock_path = dir.path() + "/modelbake.lock";
    request.cache_dir = dir.path() + "/cache";
    EXPECT_TRUE(write_lock(request.lock_path, lock).ok());
  }
  const LockedFile& file(const std::string& p) const { return *lock.models[0].find_file(p); }
  std::string snap(const std::string& p) const {
    return store.layout().snapshot_file(RepoType::model, "org/mini", k_run_commit, p);
  }
  Result<verify::VerifyOutcome> run() {
    return verify::run_verify(
        request, [this](const Store&, const Lockfile& l, const std::set<std::string>& models) {
          EXPECT_EQ(l.models.size(), lock.models.size());
          fetches.push_back(models);
          return fetch_result;
        });
  }
};

TEST(VerifyRun, ACompleteCacheIsReadyWithoutRepair) {
  VerifyRig rig;
  rig.request.repair = true;
  auto o = rig.run();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->exit_code(), 0);
  EXPECT_FALSE(o->repair);
  EXPECT_TRUE(rig.fetches.empty());
  EXPECT_TRUE(fs::path(o->cache).is_absolute());
}

TEST(VerifyRun, AMissingLockIsAnErrorWithAHint) {
  VerifyRig rig;
  const std::string good = rig.request.lock_path;
  rig.request.lock_path = rig.dir.path() + "/none.lock";
  auto o = rig.run();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().hint, "create it with 'modelbake lock'");
  // A lock that cannot be parsed: the run says how to get a good one.
  rig.request.lock_path = good;
  ASSERT_TRUE(write_file_atomic(good, "{not json").ok());
  auto broken = rig.run();
  ASSERT_FALSE(broken.ok());
  EXPECT_FALSE(broken.error().hint.empty());
}

TEST(VerifyRun, FindingsWithoutRepairExitOne) {
  VerifyRig rig;
  fs::remove(rig.snap("config.json"));
  auto o = rig.run();
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->exit_code(), 1);
  EXPECT_FALSE(o->repair);
  EXPECT_TRUE(fs::exists(rig.store.layout().object_path(rig.file("config.json").sha256)));
}

TEST(VerifyRun, RepairRestoresLayoutWithoutTheHub) {
  VerifyRig rig;
  fs::remove(rig.snap("config.json"));
  rig.request.repair = true;
  auto o = rig.run();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->exit_code(), 0);
  ASSERT_TRUE(o->repair);
  EXPECT_EQ(o->repair->repaired.size(), 1u);
  EXPECT_TRUE(o->repair->fetched_models.empty());
  EXPECT_TRUE(rig.fetches.empty());
}

TEST(VerifyRun, RepairHandsCorruptModelsToTheHub) {
  VerifyRig rig;
  test::overwrite(rig.store.layout().object_path(rig.file("model.safetensors").sha256), "Z");
  rig.request.repair = true;
  auto o = rig.run();
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(rig.fetches.size(), 1u);
  EXPECT_EQ(rig.fetches[0], std::set<std::string>{"mini"});
  ASSERT_TRUE(o->repair);
  EXPECT_EQ(o->repair->fetched_models, std::set<std::string>{"mini"});
  // The fake hub brought nothing: the second check still finds the hole.
  EXPECT_EQ(o->exit_code(), 1);
}

TEST(VerifyRun, AFailedRepairFetchIsTheRunsError) {
  VerifyRig rig;
  test::overwrite(rig.store.layout().object_path(rig.file("model.safetensors").sha256), "Z");
  rig.request.repair = true;
  rig.fetch_result = make_error(ErrorCategory::permanent, "HF_HUB_OFFLINE=1 is set");
  auto o = rig.run();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().category, ErrorCategory::permanent);
  EXPECT_NE(o.error().message.find("verify --repair"), std::string::npos) << o.error().message;
}

std::vector<verify::StatusRequest> wanted_mini() {
  return {{"mini", "org/mini", "main", [](const LockedModel&) { return std::string(); }}};
}

TEST(StatusRun, NoLockIsAStateAndAnUnreadableLockAnError) {
  VerifyRig rig;
  auto ready =
      verify::run_status(wanted_mini(), rig.request.lock_path, rig.request.cache_dir, true);
  ASSERT_TRUE(ready.ok()) << ready.error().message;
  EXPECT_TRUE(ready->ready());
  EXPECT_EQ(ready->exit_code(), 0);

  auto none = verify::run_status(wanted_mini(), rig.dir.path() + "/none.lock",
                                 rig.request.cache_dir, false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->entries.at(0).state, verify::ModelState::stale_lock);
  EXPECT_EQ(none->exit_code(), 1);

  ASSERT_TRUE(write_file_atomic(rig.request.lock_path, "{not json").ok());
  auto broken =
      verify::run_status(wanted_mini(), rig.request.lock_path, rig.request.cache_dir, false);
  EXPECT_FALSE(broken.ok());
}

}  // namespace
