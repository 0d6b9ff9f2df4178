// download_file over a scripted transport: streams, ranges, retries, fallbacks, resume and
// verification, with FakeClock (no sockets, no sleeps).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "fetch/download.hpp"
#include "fetch/resume_state.hpp"
#include "hub/client.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/temp_dir.hpp"

namespace mb::fetch {
namespace {

const std::string k_commit(40, 'c');
const std::string k_cdn = "http://cdn.test/blob";

std::string content_of(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

// What a DownloadWatch is told (serve streams a download from it).
struct RecordingWatch final : DownloadWatch {
  std::mutex mutex;
  std::vector<std::string> events;  // "begin <present bytes>", "discard"
  std::string path;
  ExtentSet landed_set;  // of the current attempt

  void begin(const std::string& p, int, const ExtentSet& present) override {
    std::lock_guard lock(mutex);
    events.push_back("begin " + std::to_string(present.covered()));
    path = p;
    landed_set = present;
  }
  void landed(uint64_t b, uint64_t e) override {
    std::lock_guard lock(mutex);
    landed_set.add(b, e);
  }
  void discarded() override {
    std::lock_guard lock(mutex);
    events.push_back("discard");
    landed_set.clear();
  }
};

// A hub whose one LFS file redirects to a CDN that honours Range (unless told otherwise).
struct Rig {
  test::TempDir dir;
  CacheDoor door{dir.path()};
  net::FakeTransport transport;
  FakeClock clock;
  std::string data;
  std::string sha;
  hub::HubClient hub;
  std::mutex mutex;
  std::vector<std::optional<net::ByteRange>> ranges;  // CDN requests in order
  bool ignore_range = false;
  int fail_first_cdn = 0;   // answer 503 to this many CDN requests
  int short_first_cdn = 0;  // cut this many CDN bodies in half
  bool corrupt = false;
  int corrupt_first_cdn = 0;           // flip a byte in this many CDN bodies
  std::vector<int> integrity_retries;  // next_attempt of every on_integrity_retry call
  DownloadWatch* watch = nullptr;

  explicit Rig(size_t size)
      : data(content_of(size)),
        sha(sha256_hex(data)),
        hub(transport, clock, hub::ClientOptions{"http://hub.test", std::nullopt, fast_retry()}) {
    transport.set_fallback([this](const net::Request& r) { return answer(r); });
  }

  static net::RetryPolicy fast_retry() {
    net::RetryPolicy p;
    p.max_attempts = 4;
    p.seed = 1;
    return p;
  }

  Result<net::Response> answer(const net::Request& r) {
    net::Response resp;
    if (r.url.find("/resolve/") != std::string::npos) {
      resp.status = 302;
      resp.headers.add("Location", k_cdn);
      resp.headers.add("X-Linked-Etag", "\"" + sha + "\"");
      resp.headers.add("X-Linked-Size", std::to_string(data.size()));
      resp.headers.add("X-Repo-Commit", k_commit);
      return resp;
    }
    std::lock_guard lock(mutex);
    ranges.push_back(r.range);
    if (fail_first_cdn > 0) {
      fail_first_cdn--;
      resp.status = 503;
      return resp;
    }
    std::string body = data;
    if (r.range && !ignore_range) {
      uint64_t last = r.range->last.value_or(data.size() - 1);
      body = data.substr(r.range->first, last - r.range->first + 1);
      resp.status = 206;
      resp.headers.add("Content-Range", "bytes " + std::to_string(r.range->first) + "-" +
                                            std::to_string(last) + "/" +
                                            std::to_string(data.size()));
    } else {
      resp.status = 200;
    }
    if (short_first_cdn > 0 && body.size() > 1) {
      short_first_cdn--;
      body.resize(body.size() / 2);
    } else {
      resp.headers.add("Content-Length", std::to_string(body.size()));
    }
    if (corrupt_first_cdn > 0) {
      corrupt_first_cdn--;
      body[body.size() / 2] ^= 0x5a;
    }
    if (corrupt) body[body.size() / 2] ^= 0x5a;
    resp.body = body;
    return resp;
  }

  Result<Downloaded> run(DownloadOptions o, int max_attempts = 4) {
    o.retry = fast_retry();
    o.retry.max_attempts = max_attempts;
    FileSource source(hub, hub::RepoType::model, "org/m", k_commit, "model.bin",
                      "org/m: model.bin");
    DownloadEnv env{transport, clock, door, dir.path(), nullptr, 0};
    env.on_integrity_retry = [this](const Error&, int next) { integrity_retries.push_back(next); };
    env.watch = watch;
    return download_file(source, DownloadSpec{sha, sha, data.size()}, o, env);
  }

  std::string read(const std::string& path) { return *read_file(path, 1ull << 30); }

  // What a killed run leaves: the partial with the first `done` bytes and its sidecar.
  void leave_partial(uint64_t done) {
    std::string on_disk(data.size(), '\0');
    on_disk.replace(0, done, data.substr(0, done));
    std::ofstream(partial_path(dir.path(), sha), std::ios::binary) << on_disk;
    ResumeState st{sha, data.size(), {}};
    st.done.add(0, done);
    ASSERT_TRUE(save_resume_state(door, partial_state_path(dir.path(), sha), st).ok());
  }
};

DownloadOptions ranged() {
  DownloadOptions o;
  o.range_threshold = 1000;
  o.min_chunk = 4096;
  o.connections = 3;
  return o;
}

TEST(FetchDownload, SmallFileStreamsAndVerifies) {
  Rig rig(5000);
  auto r = rig.run(DownloadOptions{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sha256, rig.sha);
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  EXPECT_EQ(rig.ranges.size(), 1u);
  EXPECT_FALSE(rig.ranges[0].has_value());
}

TEST(FetchDownload, ShortBodyIsResumedWithRange) {
  Rig rig(5000);
  rig.short_first_cdn = 1;
  auto r = rig.run(DownloadOptions{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  ASSERT_EQ(rig.ranges.size(), 2u);
  ASSERT_TRUE(rig.ranges[1].has_value());
  EXPECT_EQ(rig.ranges[1]->first, 2500u);
}

TEST(FetchDownload, CorruptContentIsIntegrityErrorAndTempRemoved) {
  Rig rig(5000);
  rig.corrupt = true;
  auto r = rig.run(DownloadOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::integrity);
  EXPECT_TRUE(std::filesystem::is_empty(rig.dir.path()));
}

TEST(FetchDownload, CorruptTransferIsDiscardedAndDownloadedAgain) {
  Rig rig(5000);
  rig.corrupt_first_cdn = 1;
  auto r = rig.run(DownloadOptions{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  ASSERT_EQ(rig.ranges.size(), 2u);
  EXPECT_FALSE(rig.ranges[1].has_value());  // from scratch, not resumed
  EXPECT_EQ(rig.integrity_retries, std::vector<int>{2});
  EXPECT_EQ(rig.clock.sleeps().size(), 1u);
  EXPECT_EQ(r->network_bytes, 10'000u);  // both transfers count
}

TEST(FetchDownload, PersistentCorruptionFailsAfterEveryAttemptWithNothingLeft) {
  Rig rig(5000);
  rig.corrupt = true;
  auto r = rig.run(DownloadOptions{}, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::integrity);
  EXPECT_NE(r.error().message.find("3 downloads"), std::string::npos) << r.error().message;
  EXPECT_EQ(rig.ranges.size(), 3u);
  EXPECT_EQ(rig.integrity_retries, (std::vector<int>{2, 3}));
  EXPECT_TRUE(std::filesystem::is_empty(rig.dir.path()));
}

TEST(FetchDownload, NoRetriesMeansOneDownloadOnMismatch) {
  Rig rig(5000);
  rig.corrupt_first_cdn = 1;
  auto r = rig.run(DownloadOptions{}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::integrity);
  EXPECT_EQ(rig.ranges.size(), 1u);
  EXPECT_TRUE(rig.clock.sleeps().empty());
}

TEST(FetchDownload, CorruptRangeDiscardsThePartialAndStartsOver) {
  Rig rig(50'000);
  rig.corrupt_first_cdn = 1;
  auto r = rig.run(ranged());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  EXPECT_EQ(rig.integrity_retries, std::vector<int>{2});
  EXPECT_EQ(r->resumed_bytes, 0u);
  EXPECT_EQ(r->network_bytes, 100'000u);
}

TEST(FetchDownload, MidSizeFileIsOneRangedStreamIntoAResumablePartial) {
  Rig rig(50'000);
  DownloadOptions o;
  o.resume_threshold = 10'000;  // 50'000 is above it, far below the range threshold
  ASSERT_TRUE(uses_partial(50'000, o));
  ASSERT_FALSE(uses_partial(10'000, o));
  auto r = rig.run(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->temp_path, partial_path(rig.dir.path(), rig.sha));
  ASSERT_EQ(rig.ranges.size(), 1u);
  ASSERT_TRUE(rig.ranges[0].has_value());
  EXPECT_EQ(rig.ranges[0]->first, 0u);
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
}

TEST(FetchDownload, MidSizeFileResumesFromWhatWasRecorded) {
  Rig rig(50'000);
  rig.leave_partial(30'000);
  DownloadOptions o;
  o.resume_threshold = 10'000;
  auto r = rig.run(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resumed_bytes, 30'000u);
  EXPECT_EQ(r->network_bytes, 20'000u);
  ASSERT_EQ(rig.ranges.size(), 1u);
  EXPECT_EQ(rig.ranges[0]->first, 30'000u);
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
}

TEST(FetchDownload, RangesCoverTheFileAndRetry5xx) {
  Rig rig(50'000);
  rig.fail_first_cdn = 2;
  auto r = rig.run(ranged());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sha256, rig.sha);
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  EXPECT_GE(rig.ranges.size(), 13u);  // 50000 / 4096 pieces + 2 retried
  EXPECT_EQ(rig.clock.sleeps().size(), 2u);
}

TEST(FetchDownload, IgnoredRangeFallsBackToOneStream) {
  Rig rig(50'000);
  rig.ignore_range = true;
  auto r = rig.run(ranged());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
  EXPECT_FALSE(rig.ranges.back().has_value());  // the final request is a plain GET
  EXPECT_FALSE(std::filesystem::exists(partial_state_path(rig.dir.path(), rig.sha)));
}

TEST(FetchDownload, ResumesOnlyTheGaps) {
  Rig rig(50'000);
  rig.leave_partial(20'000);
  auto r = rig.run(ranged());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resumed_bytes, 20'000u);
  EXPECT_EQ(r->network_bytes, 30'000u);
  for (const auto& range : rig.ranges) {
    ASSERT_TRUE(range.has_value());
    EXPECT_GE(range->first, 20'000u);
  }
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
}

TEST(FetchDownload, StaleResumedBytesAreDiscardedAndRefetched) {
  Rig rig(50'000);
  std::string partial = partial_path(rig.dir.path(), rig.sha);
  std::ofstream(partial, std::ios::binary) << std::string(rig.data.size(), 'z');  // wrong bytes
  ResumeState st{rig.sha, rig.data.size(), {}};
  st.done.add(0, 10'000);
  ASSERT_TRUE(save_resume_state(rig.door, partial_state_path(rig.dir.path(), rig.sha), st).ok());
  auto r = rig.run(ranged());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->resumed_bytes, 0u);
  EXPECT_EQ(rig.read(r->temp_path), rig.data);
}

TEST(FetchDownload, HubDescribingOtherContentIsRefusedBeforeDownloading) {
  Rig rig(50'000);
  FileSource source(rig.hub, hub::RepoType::model, "org/m", k_commit, "model.bin", "x");
  DownloadEnv env{rig.transport, rig.clock, rig.door, rig.dir.path(), nullptr, 0};
  DownloadOptions o = ranged();
  auto r = download_file(source, DownloadSpec{std::string(64, 'a'), "", rig.data.size()}, o, env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::integrity);
  EXPECT_TRUE(rig.ranges.empty());
  EXPECT_TRUE(std::filesystem::is_empty(rig.dir.path()));
}

// Each way of downloading tells the watch which file it writes and every byte that lands
// there; a digest mismatch is a discard before the next attempt begins.
TEST(FetchDownload, TheWatchSeesEveryByteLandAndEveryDiscard) {
  struct Case {
    const char* name;
    size_t size;
    DownloadOptions options;
    uint64_t left_partial;
    std::vector<std::string> events;
  };
  DownloadOptions mid;
  mid.resume_threshold = 10'000;
  std::vector<Case> cases{{"stream", 5000, DownloadOptions{}, 0, {"begin 0"}},
                          {"ranges", 50'000, ranged(), 0, {"begin 0"}},
                          {"resumed", 50'000, mid, 30'000, {"begin 30000"}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Rig rig(c.size);
    if (c.left_partial) rig.leave_partial(c.left_partial);
    RecordingWatch watch;
    rig.watch = &watch;
    auto r = rig.run(c.options);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(watch.events, c.events);
    EXPECT_EQ(watch.path, r->temp_path);
    EXPECT_TRUE(watch.landed_set.contains(0, c.size));
  }
  Rig rig(5000);
  rig.corrupt_first_cdn = 1;
  RecordingWatch watch;
  rig.watch = &watch;
  ASSERT_TRUE(rig.run(DownloadOptions{}).ok());
  EXPECT_EQ(watch.events, (std::vector<std::string>{"begin 0", "discard", "begin 0"}));
  EXPECT_TRUE(watch.landed_set.contains(0, 5000));
  // A server that ignores Range: the stream writes the partial again from byte 0, a new
  // attempt for the watch (what landed before is void).
  Rig ignoring(50'000);
  ignoring.ignore_range = true;
  ignoring.leave_partial(20'000);
  RecordingWatch w2;
  ignoring.watch = &w2;
  ASSERT_TRUE(ignoring.run(ranged()).ok());
  EXPECT_EQ(w2.events, (std::vector<std::string>{"begin 20000", "begin 0"}));
  EXPECT_TRUE(w2.landed_set.contains(0, 50'000));
}

TEST(FetchDownload, ContentRangeParsing) {
  auto cr = parse_content_range("bytes 10-19/100");
  ASSERT_TRUE(cr.has_value());
  EXPECT_EQ(cr->first, 10u);
  EXPECT_EQ(cr->last, 19u);
  EXPECT_EQ(cr->total, 100u);
  EXPECT_FALSE(parse_content_range("bytes 10-19/*")->total.has_value());
  EXPECT_FALSE(parse_content_range("bytes 19-10/100").has_value());
  EXPECT_FALSE(parse_content_range("bytes 10-100/100").has_value());
  EXPECT_FALSE(parse_content_range("items 1-2/3").has_value());
  EXPECT_FALSE(parse_content_range("bytes -5/10").has_value());
}

}  // namespace
}  // namespace mb::fetch
