// Engine over a scripted transport and a temp cache: one failing file does not stop the
// other models from being completed; an inconsistent lock is refused before any request.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "core/hash.hpp"
#include "fetch/engine.hpp"
#include "hub/client.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/temp_dir.hpp"

namespace mb::fetch {
namespace {

LockedFile regular_file(const std::string& path, const std::string& content) {
  return LockedFile{path, content.size(), sha256_hex(content), git_blob_sha1_hex(content)};
}

LockedModel model(const std::string& name, std::vector<LockedFile> files) {
  LockedModel m;
  m.name = name;
  m.repo = "org/" + name;
  m.revision = "main";
  m.commit = std::string(40, name[0] == 'a' ? 'a' : 'b');
  m.files = std::move(files);
  return m;
}

// Serves every file by its path suffix; paths listed in `missing` answer 404.
struct Rig {
  test::TempDir dir;
  net::FakeTransport transport;
  FakeClock clock;
  hub::HubClient hub;
  Store store;
  std::map<std::string, std::string> content;  // "/resolve/<commit>/<path>" suffix -> bytes
  std::vector<std::string> missing;
  std::vector<std::string> cancelled;  // paths whose request fails as if the run was interrupted
  int jobs = 2;

  Rig()
      : hub(transport, clock, hub::ClientOptions{"http://hub.test", std::nullopt, retry()}),
        store(CacheLayout(dir.path() + "/cache")) {
    EXPECT_TRUE(store.init().ok());
    transport.set_fallback([this](const net::Request& r) -> Result<net::Response> {
      net::Response resp;
      for (const std::string& c : cancelled) {
        if (r.url.ends_with(c)) return fail(ErrorCategory::cancelled, "interrupted");
      }
      for (const std::string& m : missing) {
        if (r.url.ends_with(m)) {
          resp.status = 404;
          resp.headers.add("X-Error-Code", "EntryNotFound");
          return resp;
        }
      }
      for (const auto& [suffix, bytes] : content) {
        if (r.url.ends_with(suffix)) {
          resp.status = 200;
          resp.headers.add("Content-Length", std::to_string(bytes.size()));
          resp.body = bytes;
          return resp;
        }
      }
      resp.status = 404;
      return resp;
    });
  }

  static net::RetryPolicy retry() {
    net::RetryPolicy p;
    p.max_attempts = 2;
    p.seed = 1;
    return p;
  }

  void serve(const LockedModel& m, const std::string& path, const std::string& bytes) {
    content["/" + m.repo + "/resolve/" + m.commit + "/" + path] = bytes;
  }

  Engine engine() {
    FetchOptions o;
    o.jobs = jobs;
    o.download.retry = retry();
    return Engine(store, &hub, &transport, clock, o, nullptr);
  }
  Status fetch(const Lockfile& lock, FetchReport& report) { return engine().fetch(lock, report); }

  bool has_ref(const LockedModel& m) {
    struct stat st {};
    return ::lstat(store.layout().ref_path(m.type, m.repo, m.revision).c_str(), &st) == 0;
  }
};

TEST(FetchEngine, OneFailingFileLeavesTheOtherModelsComplete) {
  Rig rig;
  LockedModel a =
      model("a", {regular_file("config.json", "{\"a\":1}"), regular_file("w.bin", "aaaa")});
  LockedModel b =
      model("b", {regular_file("config.json", "{\"b\":2}"), regular_file("gone.bin", "bbbb")});
  rig.serve(a, "config.json", "{\"a\":1}");
  rig.serve(a, "w.bin", "aaaa");
  rig.serve(b, "config.json", "{\"b\":2}");
  rig.missing.push_back("/gone.bin");
  Lockfile lock;
  lock.models = {a, b};
  FetchReport report;
  Status st = rig.fetch(lock, report);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::permanent);  // 404: exit 3
  EXPECT_NE(st.error().message.find("org/b: gone.bin"), std::string::npos) << st.error().message;
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].model, "b");
  EXPECT_EQ(report.errors[0].path, "gone.bin");
  EXPECT_EQ(report.incomplete_models, std::vector<std::string>{"b"});
  EXPECT_TRUE(rig.has_ref(a));
  EXPECT_FALSE(rig.has_ref(b));
  EXPECT_EQ(report.files_downloaded, 3u);
  EXPECT_TRUE(rig.store.has_object(b.files[0].sha256));

  // A second run asks only for what is missing.
  rig.missing.clear();
  rig.serve(b, "gone.bin", "bbbb");
  size_t before = rig.transport.request_count();
  FetchReport again;
  Status st2 = rig.fetch(lock, again);
  ASSERT_TRUE(st2.ok()) << st2.error().message;
  EXPECT_EQ(again.files_downloaded, 1u);
  EXPECT_EQ(again.files_reused, 3u);
  auto requests = rig.transport.requests();
  ASSERT_EQ(requests.size() - before, 1u);
  EXPECT_TRUE(requests.back().request.url.ends_with("/gone.bin"));
  EXPECT_TRUE(rig.has_ref(b));
}

TEST(FetchEngine, EveryFailureIsNamed) {
  Rig rig;
  LockedModel a = model("a", {regular_file("x.bin", "xx"), regular_file("y.bin", "yy")});
  rig.missing = {"/x.bin", "/y.bin"};
  Lockfile lock;
  lock.models = {a};
  FetchReport report;
  Status st = rig.fetch(lock, report);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("2 of 2 files failed (org/a: x.bin, org/a: y.bin)"),
            std::string::npos)
      << st.error().message;
  EXPECT_FALSE(rig.has_ref(a));
}

// An interrupted transport stops the run: files not started count as failed (their model is
// not completed) but are not named as failures; the interruption is.
TEST(FetchEngine, CancelledDownloadStopsTheRun) {
  Rig rig;
  rig.jobs = 1;  // one worker: the files start in lock order
  LockedModel a = model("a", {regular_file("x.bin", "xx"), regular_file("y.bin", "yy")});
  LockedModel b = model("b", {regular_file("z.bin", "zz")});
  rig.serve(a, "y.bin", "yy");
  rig.serve(b, "z.bin", "zz");
  rig.cancelled = {"/x.bin"};
  Lockfile lock;
  lock.models = {a, b};
  FetchReport report;
  Status st = rig.fetch(lock, report);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::cancelled);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].path, "x.bin");
  EXPECT_EQ(report.incomplete_models, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(report.files_downloaded, 0u);
  for (const auto& r : rig.transport.requests()) {
    EXPECT_TRUE(r.request.url.ends_with("/x.bin")) << r.request.url;
  }
  EXPECT_FALSE(rig.has_ref(a));
  EXPECT_FALSE(rig.has_ref(b));
}

// Lock time: one failure means no lock, so the files after it are not downloaded.
TEST(FetchEngine, LearningSha256StopsAtTheFirstFailure) {
  Rig rig;
  rig.jobs = 1;
  LockedModel a = model("a", {regular_file("x.bin", "xx"), regular_file("y.bin", "yy")});
  rig.serve(a, "y.bin", "yy");
  rig.missing = {"/x.bin"};
  std::vector<LockedFile*> files = {&a.files[0], &a.files[1]};
  FetchReport report;
  Status st = rig.engine().learn_sha256(a, files, report);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::permanent);
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_EQ(report.errors[0].path, "x.bin");
  for (const auto& r : rig.transport.requests()) {
    EXPECT_FALSE(r.request.url.ends_with("/y.bin")) << r.request.url;
  }
  EXPECT_FALSE(rig.store.has_object(a.files[1].sha256));
}

TEST(FetchEngine, SameSha256WithDifferentSizesIsRefusedBeforeAnyRequest) {
  Rig rig;
  LockedFile big = regular_file("big.bin", "0123456789");
  LockedFile liar = big;
  liar.path = "small.bin";
  liar.size = 4;
  liar.etag = std::string(64, 'e');
  Lockfile lock;
  lock.models = {model("a", {big}), model("b", {liar})};
  FetchReport report;
  Status st = rig.fetch(lock, report);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::usage);
  EXPECT_NE(st.error().message.find("sha256 " + big.sha256), std::string::npos)
      << st.error().message;
  EXPECT_EQ(rig.transport.request_count(), 0u);
}

TEST(FetchEngine, LockConsistency) {
  LockedFile f = regular_file("a.bin", "abc");
  Lockfile same;
  LockedFile copy = f;
  copy.path = "b.bin";
  same.models = {model("a", {f, copy}), model("b", {f})};
  EXPECT_TRUE(check_lock_consistency(same).ok());  // one content under several names

  Lockfile other_digest;
  LockedFile g = f;
  g.path = "b.bin";
  g.sha256 = std::string(64, '1');
  other_digest.models = {model("a", {f, g})};
  Status st = check_lock_consistency(other_digest);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::usage);
  EXPECT_NE(st.error().message.find("etag " + f.etag), std::string::npos);

  Lockfile other_size;
  LockedFile h = f;
  h.path = "c.bin";
  h.size = 4;
  other_size.models = {model("a", {f}), model("b", {h})};
  EXPECT_FALSE(check_lock_consistency(other_size).ok());
}

}  // namespace
}  // namespace mb::fetch

namespace mb::fetch {
namespace {

TEST(FetchEngine, LockingDownloadsAreCountedOnceAsDownloaded) {
  FetchReport locking;
  locking.files_downloaded = 2;  // e.g. config.json fetched to read the model while locking
  locking.bytes_downloaded = 300;
  locking.network_bytes = 350;
  locking.resumed_bytes = 10;
  locking.retries.push_back({"m", "org/m", "config.json", "digest mismatch", 2});
  FetchReport report;
  report.files_total = 5;
  report.files_downloaded = 1;
  report.files_reused = 4;  // the two from locking plus two cached before the run
  report.bytes_downloaded = 1000;
  report.bytes_reused = 700;
  report.network_bytes = 1000;
  report.retries.push_back({"m", "org/m", "w.bin", "digest mismatch", 2});
  merge_locking_report(locking, report);
  EXPECT_EQ(report.files_total, 5u);
  EXPECT_EQ(report.files_downloaded, 3u);
  EXPECT_EQ(report.files_reused, 2u);
  EXPECT_EQ(report.bytes_downloaded, 1300u);
  EXPECT_EQ(report.bytes_reused, 400u);
  EXPECT_EQ(report.network_bytes, 1350u);
  EXPECT_EQ(report.resumed_bytes, 10u);
  ASSERT_EQ(report.retries.size(), 2u);
  EXPECT_EQ(report.retries[0].path, "config.json");
}

TEST(FetchEngine, LockingMergeNeverUnderflows) {
  FetchReport locking;
  locking.files_downloaded = 3;
  locking.bytes_downloaded = 900;
  FetchReport report;  // e.g. the fetch found nothing (failed early)
  merge_locking_report(locking, report);
  EXPECT_EQ(report.files_downloaded, 0u);
  EXPECT_EQ(report.files_reused, 0u);
  EXPECT_EQ(report.bytes_reused, 0u);
}

}  // namespace
}  // namespace mb::fetch
