// verify::compute_status: the four states `modelbake status` reports, on a real cache.
#include <gtest/gtest.h>

#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"
#include "verify/status.hpp"

using namespace mb;
using mb::verify::ModelState;

namespace {

const std::string k_commit = std::string(40, 'a');

class VerifyStatusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.init().ok());
    lock.models.push_back(test::add_model(
        store, "mini", "org/mini", "main", k_commit,
        {{"config.json", "{\"hidden\": 4}"}, {"model.safetensors", std::string(5000, 'w')}}));
  }
  static verify::StatusRequest want(const std::string& name, std::string difference = "") {
    return {name, "org/" + name, "main", [difference](const LockedModel&) { return difference; }};
  }
  verify::StatusEntry one(const verify::StatusRequest& w, const Lockfile* l, bool full = false) {
    auto r = verify::compute_status({w}, l, store.layout(), full);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.ok() ? r->size() : 0u, 1u);
    return r.ok() && !r->empty() ? r->front() : verify::StatusEntry{};
  }
  std::string object(const std::string& path) const {
    return store.layout().object_path(lock.models[0].find_file(path)->sha256);
  }

  test::TempDir dir;
  Store store{CacheLayout(dir.path())};
  Lockfile lock;
};

TEST_F(VerifyStatusTest, ReadyWhenEveryLockedFileIsInPlace) {
  auto e = one(want("mini"), &lock);
  EXPECT_EQ(e.state, ModelState::ready) << e.detail;
  EXPECT_EQ(std::string(verify::to_string(e.state)), "ready");
  EXPECT_EQ(e.commit, k_commit);
  EXPECT_EQ(e.files, 2u);
  EXPECT_EQ(e.bytes, lock.models[0].total_bytes());
  EXPECT_TRUE(e.detail.empty());
}

TEST_F(VerifyStatusTest, MissingWhenTheLockedModelWasNeverFetched) {
  LockedModel other = lock.models[0];
  other.name = "other";
  other.repo = "org/other";
  lock.models.push_back(other);
  auto e = one(want("other"), &lock);
  EXPECT_EQ(e.state, ModelState::missing);
  EXPECT_FALSE(e.detail.empty());
}

TEST_F(VerifyStatusTest, CorruptWhenAFileHasWrongBytesAndFullHashes) {
  test::overwrite(object("model.safetensors"), "XXXX");
  EXPECT_EQ(one(want("mini"), &lock, /*full=*/true).state, ModelState::corrupt);
}

TEST_F(VerifyStatusTest, CorruptWhenAFileHasTheWrongSizeEvenWithoutHashing) {
  test::overwrite(object("config.json"), std::string(100, 'z'));
  auto e = one(want("mini"), &lock, /*full=*/false);
  EXPECT_EQ(e.state, ModelState::corrupt);
  EXPECT_FALSE(e.detail.empty());
}

TEST_F(VerifyStatusTest, StaleLockWithoutALockFile) {
  auto e = one(want("mini"), nullptr);
  EXPECT_EQ(e.state, ModelState::stale_lock);
  EXPECT_EQ(std::string(verify::to_string(e.state)), "stale-lock");
  EXPECT_NE(e.detail.find("no lock file"), std::string::npos);
}

TEST_F(VerifyStatusTest, StaleLockWhenTheModelIsNotInTheLock) {
  auto e = one(want("absent"), &lock);
  EXPECT_EQ(e.state, ModelState::stale_lock);
  EXPECT_NE(e.detail.find("not in the lock"), std::string::npos);
}

TEST_F(VerifyStatusTest, StaleLockWhenTheCallersRuleSaysTheEntryDiffers) {
  // Even a complete cache is stale-lock when the lock no longer describes the manifest.
  auto e = one(want("mini", "revision differs"), &lock);
  EXPECT_EQ(e.state, ModelState::stale_lock);
  EXPECT_EQ(e.detail, "revision differs: run `modelbake lock`");
  EXPECT_EQ(e.commit, k_commit);
}

}  // namespace
