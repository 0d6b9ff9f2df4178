// fetch::run_lock / run_fetch: the decisions of `modelbake lock` and `modelbake fetch` (offline
// mode, --locked, locking again, a complete cache that needs no request, partial failures),
// over a temp manifest, lock and cache and a scripted hub that counts its connections.
#include <gtest/gtest.h>

#include <map>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "fetch/run.hpp"
#include "manifest/manifest.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/temp_dir.hpp"
#include "unit/verify/cache_builder.hpp"

namespace mb::fetch {
namespace {

const std::string k_commit_a(40, 'a');
const std::string k_commit_b(40, 'b');

struct RunRig {
  test::TempDir dir;
  MapEnv env;
  FakeClock clock;
  Progress progress;
  RunRequest request;
  int connects = 0;
  size_t requests = 0;                         // requests of the last connection
  std::map<std::string, std::string> content;  // URL suffix -> bytes (HEAD and GET)
  std::map<std::string, std::string> api;      // exact URL -> JSON body
  std::vector<std::string> missing;            // URL suffixes answering 404
  std::unique_ptr<net::FakeTransport> hold;    // keeps the last transport for inspection

  RunRig() {
    request.manifest_path = dir.path() + "/modelbake.yaml";
    request.lock_path = dir.path() + "/modelbake.lock";
    request.cache_dir = dir.path() + "/cache";
    request.hub.endpoint_flag = "http://hub.test";
    request.hub.retries = 1;
    request.options.jobs = 2;
  }

  void manifest(const std::string& models_yaml) {
    ASSERT_TRUE(
        write_file_atomic(request.manifest_path, "version: 1\nmodels:\n" + models_yaml).ok());
  }
  Manifest loaded_manifest() { return load_manifest(request.manifest_path).value(); }
  Store store() {
    Store s{CacheLayout(request.cache_dir)};
    EXPECT_TRUE(s.init().ok());
    return s;
  }
  void write(const Lockfile& lock) { ASSERT_TRUE(write_lock(request.lock_path, lock).ok()); }

  Result<net::Response> answer(const net::Request& r) {
    net::Response resp;
    resp.status = 404;
    if (auto it = api.find(r.url); it != api.end()) {
      resp.status = 200;
      resp.body = it->second;
      return resp;
    }
    for (const std::string& m : missing) {
      if (r.url.ends_with(m)) {
        resp.headers.add("X-Error-Code", "EntryNotFound");
        return resp;
      }
    }
    for (const auto& [suffix, bytes] : content) {
      if (!r.url.ends_with(suffix)) continue;
      resp.status = 200;
      resp.headers.add("Content-Length", std::to_string(bytes.size()));
      resp.body = bytes;
    }
    return resp;
  }

  RunDeps deps() {
    RunDeps d{env, clock, &progress, {}, {}};
    d.connect = [this](const HubSettings& h) -> Result<Hub> {
      ++connects;
      MB_ASSIGN(hub::ClientOptions o, hub_client_options(env, h));
      auto transport = std::make_unique<net::FakeTransport>();
      transport->set_fallback([this](const net::Request& r) { return answer(r); });
      Hub hub;
      hub.client = std::make_unique<hub::HubClient>(*transport, clock, o);
      hub.transport = std::move(transport);
      return hub;
    };
    return d;
  }
  Result<RunOutcome> fetch() {
    RunDeps d = deps();
    return run_fetch(request, d);
  }
  Result<RunOutcome> lock() {
    RunDeps d = deps();
    return run_lock(request, d);
  }
};

// Manifest entry "org/<name>" pinned to `commit` and its lock entry, filled by `add` (a model
// built into the cache) or left as the skeleton.
LockedModel entry_of(const Manifest& m, size_t i, const std::string& commit) {
  LockedModel l = lock_skeleton(m.models[i]);
  l.commit = commit;
  return l;
}

// Two models, both complete in the cache, and a lock that matches the manifest.
Lockfile complete_cache(RunRig& rig) {
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a +
               "\n  - repo: org/b\n    revision: " + k_commit_b + "\n");
  Store store = rig.store();
  Lockfile lock;
  lock.models.push_back(
      test::add_model(store, "a", "org/a", k_commit_a, k_commit_a, {{"config.json", "{\"a\":1}"}}));
  lock.models.push_back(
      test::add_model(store, "b", "org/b", k_commit_b, k_commit_b, {{"w.bin", "bbbb"}}));
  rig.write(lock);
  EXPECT_TRUE(lock_matches_manifest(rig.loaded_manifest(), lock).ok());
  return lock;
}

TEST(FetchRun, OfflineWithCompleteCacheSendsNoRequestAndSucceeds) {
  RunRig rig;
  complete_cache(rig);
  rig.env.set("HF_HUB_OFFLINE", "1");
  auto o = rig.fetch();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(rig.connects, 0);
  EXPECT_FALSE(o->failure);
  EXPECT_EQ(o->exit_code(), 0);
  EXPECT_FALSE(o->relocked);
  EXPECT_EQ(o->report.files_total, 2u);
  EXPECT_EQ(o->report.files_reused, 2u);
  EXPECT_EQ(o->lock.models.size(), 2u);
}

TEST(FetchRun, CompleteCacheNeedsNoHubEvenOnline) {
  RunRig rig;
  complete_cache(rig);
  auto o = rig.fetch();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(rig.connects, 0);
  EXPECT_EQ(o->report.files_downloaded, 0u);
}

TEST(FetchRun, OfflineWithMissingFilesNamesTheVariableAndTheFiles) {
  RunRig rig;
  Lockfile lock = complete_cache(rig);
  rig.env.set("HF_HUB_OFFLINE", "1");
  lock.models[1].files.push_back(test::locked_file("extra.bin", "not in the cache", true));
  rig.write(lock);
  auto o = rig.fetch();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(rig.connects, 0);
  EXPECT_EQ(o.error().category, ErrorCategory::permanent);  // exit 3
  EXPECT_NE(o.error().message.find("HF_HUB_OFFLINE=1 is set (offline mode), but 1 locked file(s)"),
            std::string::npos)
      << o.error().message;
  EXPECT_NE(o.error().message.find("b: extra.bin"), std::string::npos) << o.error().message;
  EXPECT_NE(o.error().hint.find("unset HF_HUB_OFFLINE"), std::string::npos);
}

TEST(FetchRun, OfflineWithoutALockNeedsTheHub) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a + "\n");
  rig.env.set("HF_HUB_OFFLINE", "1");
  for (bool lock_command : {false, true}) {
    auto o = lock_command ? rig.lock() : rig.fetch();
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.error().message,
              "HF_HUB_OFFLINE=1 is set (offline mode), but there is no modelbake.lock and locking "
              "needs the hub");
  }
  EXPECT_EQ(rig.connects, 0);
}

TEST(FetchRun, LockedRefusesALockThatDiffersFromTheManifest) {
  RunRig rig;
  complete_cache(rig);
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_b +
               "\n  - repo: org/b\n    revision: " + k_commit_b + "\n");
  rig.request.locked = true;
  auto o = rig.fetch();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().category, ErrorCategory::usage);  // exit 2
  EXPECT_NE(o.error().message.find("--locked: " + rig.request.lock_path + " does not match " +
                                   rig.request.manifest_path),
            std::string::npos)
      << o.error().message;
  EXPECT_FALSE(o.error().hint.empty());
  EXPECT_EQ(rig.connects, 0);
}

TEST(FetchRun, LockedNeedsALockFile) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n");
  rig.request.locked = true;
  auto o = rig.fetch();
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().category, ErrorCategory::usage);
  EXPECT_EQ(o.error().message, "--locked: no lock file at " + rig.request.lock_path);
}

TEST(FetchRun, AnUnreadableLockStopsOnlyLocked) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a + "\n");
  ASSERT_TRUE(write_file_atomic(rig.request.lock_path, "{not json").ok());
  rig.request.locked = true;
  auto locked = rig.fetch();
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(rig.connects, 0);
  // Without --locked the damaged lock is replaced: here, offline, that needs the hub.
  rig.request.locked = false;
  rig.env.set("HF_HUB_OFFLINE", "1");
  auto relock = rig.fetch();
  ASSERT_FALSE(relock.ok());
  EXPECT_NE(relock.error().message.find("there is no modelbake.lock"), std::string::npos);
}

TEST(FetchRun, OneFailingFileLeavesTheOtherModelComplete) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a +
               "\n  - repo: org/b\n    revision: " + k_commit_b + "\n");
  Manifest m = rig.loaded_manifest();
  Lockfile lock;
  lock.models = {entry_of(m, 0, k_commit_a), entry_of(m, 1, k_commit_b)};
  lock.models[0].files = {test::locked_file("w.bin", "aaaa", true)};
  lock.models[1].files = {test::locked_file("gone.bin", "bbbb", true)};
  rig.write(lock);
  rig.content["/org/a/resolve/" + k_commit_a + "/w.bin"] = "aaaa";
  rig.missing.push_back("/gone.bin");
  auto o = rig.fetch();
  ASSERT_TRUE(o.ok()) << o.error().message;  // a file failure is an outcome, not an error
  ASSERT_TRUE(o->failure.has_value());
  EXPECT_EQ(o->exit_code(), 3);
  ASSERT_EQ(o->report.errors.size(), 1u);
  EXPECT_EQ(o->report.errors[0].path, "gone.bin");
  EXPECT_TRUE(model_complete(o->report, "a"));
  EXPECT_FALSE(model_complete(o->report, "b"));
  EXPECT_EQ(o->report.files_downloaded, 1u);
  EXPECT_EQ(rig.connects, 1);
  EXPECT_EQ(describe_failure(o->report.errors[0]).find("org/b: gone.bin"), 0u)
      << describe_failure(o->report.errors[0]);
}

TEST(FetchRun, AStaleLockIsReplacedAndTheNewLockFetched) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a + "\n");
  const std::string bytes = "weights";
  const std::string sha = sha256_hex(bytes);
  rig.api["http://hub.test/api/models/org/a/tree/" + k_commit_a + "?recursive=true&expand=false"] =
      R"([{"type":"file","path":"w.bin","size":134,"oid":")" + std::string(40, 'f') +
      R"(","lfs":{"oid":")" + sha + R"(","size":)" + std::to_string(bytes.size()) +
      R"(,"pointerSize":134}}])";
  rig.content["/org/a/resolve/" + k_commit_a + "/w.bin"] = bytes;
  auto o = rig.fetch();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_FALSE(o->failure);
  EXPECT_TRUE(o->relocked);
  EXPECT_EQ(rig.connects, 1);
  EXPECT_EQ(o->report.files_downloaded, 1u);
  auto written = read_lock(rig.request.lock_path);
  ASSERT_TRUE(written.ok()) << written.error().message;
  ASSERT_EQ(written->models.size(), 1u);
  EXPECT_EQ(written->models[0].files.at(0).sha256, sha);
  EXPECT_TRUE(lock_matches_manifest(rig.loaded_manifest(), *written).ok());
}

TEST(FetchRun, TheRegistryPrefillSeesTheLockBeforeTheHub) {
  RunRig rig;
  Lockfile lock = complete_cache(rig);
  RunDeps d = rig.deps();
  std::vector<std::string> seen;
  d.prefill = [&](const Lockfile& l) {
    seen.push_back(l.models.at(0).name);
    return Status{};
  };
  auto o = run_fetch(rig.request, d);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(seen, std::vector<std::string>{"a"});
  // Offline, the registry is not asked either.
  rig.env.set("HF_HUB_OFFLINE", "1");
  seen.clear();
  ASSERT_TRUE(run_fetch(rig.request, d).ok());
  EXPECT_TRUE(seen.empty());
}

TEST(LockRun, OfflineKeepsAMatchingLockWithoutARequest) {
  RunRig rig;
  complete_cache(rig);
  rig.env.set("HF_HUB_OFFLINE", "1");
  auto o = rig.lock();
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->kept_offline, "HF_HUB_OFFLINE=1");
  EXPECT_FALSE(o->relocked);
  EXPECT_EQ(o->lock.models.size(), 2u);
  EXPECT_EQ(rig.connects, 0);
}

TEST(LockRun, OfflineWithAStaleLockNeedsTheHub) {
  RunRig rig;
  complete_cache(rig);
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_b + "\n");
  rig.env.set("HF_HUB_OFFLINE", "1");
  auto o = rig.lock();
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("modelbake.lock does not match the manifest"),
            std::string::npos);
  EXPECT_EQ(rig.connects, 0);
}

TEST(FetchRun, TheManifestEndpointReachesTheHubSettings) {
  RunRig rig;
  rig.request.hub.endpoint_flag.reset();
  ASSERT_TRUE(write_file_atomic(rig.request.manifest_path,
                                "version: 1\nendpoint: http://mirror.test\nmodels:\n  - repo: "
                                "org/a\n    revision: " +
                                    k_commit_a + "\n")
                  .ok());
  RunDeps d = rig.deps();
  auto real = d.connect;
  std::optional<std::string> seen;
  d.connect = [&](const HubSettings& h) {
    seen = h.manifest_endpoint;
    return real(h);
  };
  auto o = run_fetch(rig.request, d);  // the fake hub lists nothing: locking fails
  EXPECT_FALSE(o.ok());
  EXPECT_EQ(seen, std::optional<std::string>("http://mirror.test"));
}

// verify --repair: only the named models' files are asked for; offline mode names the setting.
TEST(FetchModels, OnlyTheNamedModelsAreFetched) {
  RunRig rig;
  rig.manifest("  - repo: org/a\n    revision: " + k_commit_a + "\n");
  Lockfile lock;
  Manifest m = rig.loaded_manifest();
  lock.models = {entry_of(m, 0, k_commit_a), entry_of(m, 0, k_commit_b)};
  lock.models[1].name = "other";
  lock.models[0].files = {test::locked_file("w.bin", "aaaa", true)};
  lock.models[1].files = {test::locked_file("x.bin", "xxxx", true)};
  rig.content["/org/a/resolve/" + k_commit_a + "/w.bin"] = "aaaa";
  Store store = rig.store();
  RunDeps d = rig.deps();
  Status st = fetch_models(store, lock, {"a"}, rig.request, d);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_TRUE(store.has_object(lock.models[0].files[0].sha256));
  EXPECT_FALSE(store.has_object(lock.models[1].files[0].sha256));

  rig.env.set("HF_HUB_OFFLINE", "1");
  Status offline = fetch_models(store, lock, {"a", "other"}, rig.request, d);
  ASSERT_FALSE(offline.ok());
  EXPECT_EQ(offline.error().message,
            "HF_HUB_OFFLINE=1 is set (offline mode), but 2 model(s) need content from the hub");
  EXPECT_EQ(rig.connects, 1);
}

TEST(FetchRun, DescribeFailureNamesTheFileOnce) {
  FileFailure f{"m", "org/m", "x.bin", make_error(ErrorCategory::permanent, "gone")};
  EXPECT_EQ(describe_failure(f), "org/m: x.bin: gone");
  f.error.message = "org/m: x.bin: 404";
  EXPECT_EQ(describe_failure(f), "org/m: x.bin: 404");
}

}  // namespace
}  // namespace mb::fetch
