// Issue 11.5 (renamed repos: same-origin redirects of API calls and /resolve/ are followed,
// the rename is recorded, cross-origin API redirects are refused) and 10.6 (the token is bound
// to the scheme too; every metadata request has a total deadline, ranged downloads one that
// scales with the range).
#include <gtest/gtest.h>

#include "hub/client.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"

namespace mb::hub::redirects_test {
namespace {

using net::Method;

const std::string k_endpoint = "https://hub.test";
const std::string k_token = "hf_unitTestSecretToken42";
const std::string k_commit = "0123456789abcdef0123456789abcdef01234567";
const std::string k_sha1 = "a16a55fda99d2f2e7b69cce5cf93ff4ad3049930";

struct Fixture {
  net::FakeTransport transport;
  FakeClock clock;
  HubClient client;

  explicit Fixture(std::string endpoint = k_endpoint)
      : client(transport, clock, [&] {
          ClientOptions o;
          o.endpoint = endpoint;
          o.token = k_token;
          o.retry.jitter = 0;
          o.retry.max_attempts = 2;
          return o;
        }()) {}
};

const std::string k_old = "distilbert-base-uncased-finetuned-sst-2-english";
const std::string k_new = "distilbert/distilbert-base-uncased-finetuned-sst-2-english";

TEST(HubRedirects, RenamedRepoApiCallsFollowSameOriginRedirects) {
  Fixture f;
  f.transport.add(Method::get, k_endpoint + "/api/models/" + k_old + "/revision/main", 307,
                  {{"Location", "/api/models/" + k_new + "/revision/main"}});
  f.transport.add(Method::get, k_endpoint + "/api/models/" + k_new + "/revision/main", 200, {},
                  R"({"sha":")" + k_commit + "\"}");
  EXPECT_FALSE(f.client.renamed_to(RepoType::model, k_old).has_value());
  auto commit = f.client.resolve_revision(RepoType::model, k_old, "main");
  ASSERT_TRUE(commit.ok()) << commit.error().message;
  EXPECT_EQ(*commit, k_commit);
  EXPECT_EQ(f.client.renamed_to(RepoType::model, k_old).value(), k_new);
  EXPECT_FALSE(f.client.renamed_to(RepoType::dataset, k_old).has_value());
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[1].authorization.has_value());  // same origin: the token follows

  // The tree listing is redirected too (query kept), and its Link pages followed.
  const std::string old_tree =
      k_endpoint + "/api/models/" + k_old + "/tree/" + k_commit + "?recursive=true&expand=false";
  const std::string new_tree =
      k_endpoint + "/api/models/" + k_new + "/tree/" + k_commit + "?recursive=true&expand=false";
  f.transport.add(Method::get, old_tree, 307,
                  {{"Location", "/api/models/" + k_new + "/tree/" + k_commit +
                                    "?recursive=true&expand=false"}});
  f.transport.add(Method::get, new_tree, 200, {},
                  R"([{"type":"file","path":"config.json","size":3,"oid":")" + k_sha1 + "\"}]");
  auto files = f.client.list_files(RepoType::model, k_old, k_commit);
  ASSERT_TRUE(files.ok()) << files.error().message;
  EXPECT_EQ(files->size(), 1u);
}

TEST(HubRedirects, RenameUnderAnEndpointPathAndOnResolve) {
  Fixture f("https://mirror.test/hf");
  const std::string url = "https://mirror.test/hf/old/name/resolve/" + k_commit + "/a.json";
  f.transport.add(Method::head, url, 307,
                  {{"Location", "/hf/new/name/resolve/" + k_commit + "/a.json"}});
  f.transport.add(
      Method::head, "https://mirror.test/hf/new/name/resolve/" + k_commit + "/a.json", 200,
      {{"X-Repo-Commit", k_commit}, {"ETag", "\"" + k_sha1 + "\""}, {"Content-Length", "5"}});
  auto m = f.client.file_metadata(RepoType::model, "old/name", k_commit, "a.json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(f.client.renamed_to(RepoType::model, "old/name").value(), "new/name");
}

// An absolute Location on the endpoint without file metadata is a rename hop too; with file
// metadata (or on another origin) it is the download location, as before.
TEST(HubRedirects, AbsoluteSameOriginResolveRedirectWithoutMetadataIsFollowed) {
  Fixture f;
  f.transport.add(Method::head, k_endpoint + "/old/name/resolve/" + k_commit + "/a.json", 307,
                  {{"Location", k_endpoint + "/new/name/resolve/" + k_commit + "/a.json"}});
  f.transport.add(Method::head, k_endpoint + "/new/name/resolve/" + k_commit + "/a.json", 302,
                  {{"Location", k_endpoint + "/lfs-store/abc"},
                   {"X-Repo-Commit", k_commit},
                   {"X-Linked-Etag", "\"" + std::string(64, 'a') + "\""},
                   {"X-Linked-Size", "9"}});
  auto m = f.client.file_metadata(RepoType::model, "old/name", k_commit, "a.json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->redirected);
  EXPECT_EQ(m->location, k_endpoint + "/lfs-store/abc");
  EXPECT_EQ(m->size, 9u);
  EXPECT_EQ(f.client.renamed_to(RepoType::model, "old/name").value(), "new/name");
  EXPECT_EQ(f.transport.request_count(), 2u);
}

TEST(HubRedirects, ApiRedirectToAnotherOriginIsRefused) {
  for (const std::string location : {"https://evil.test/api/models/org/x/revision/main",
                                     "http://hub.test/api/models/org/x/revision/main",
                                     "//evil.test/api/models/org/x/revision/main"}) {
    Fixture f;
    f.transport.add(Method::get, k_endpoint + "/api/models/org/x/revision/main", 307,
                    {{"Location", location}});
    auto r = f.client.resolve_revision(RepoType::model, "org/x", "main");
    ASSERT_FALSE(r.ok()) << location;
    EXPECT_EQ(r.error().category, ErrorCategory::permanent);
    EXPECT_NE(r.error().message.find("another server"), std::string::npos) << r.error().message;
    EXPECT_EQ(f.transport.request_count(), 1u) << location;  // never contacted
    EXPECT_EQ(r.error().message.find(k_token), std::string::npos);
  }
}

TEST(HubRedirects, ApiRedirectLoopStops) {
  Fixture f;
  f.transport.add(Method::get, k_endpoint + "/api/models/a/b/revision/main", 307,
                  {{"Location", "/api/models/a/b/revision/main"}});
  auto r = f.client.resolve_revision(RepoType::model, "a/b", "main");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("too many redirects"), std::string::npos);
  EXPECT_EQ(f.transport.request_count(), 6u);
  EXPECT_FALSE(f.client.renamed_to(RepoType::model, "a/b").has_value());
}

TEST(HubRedirects, TokenNeverGoesToAPlainHttpLocation) {
  Fixture f;
  EXPECT_TRUE(net::authorization_for(f.client.download_request(k_endpoint + "/x")).has_value());
  EXPECT_FALSE(
      net::authorization_for(f.client.download_request("http://hub.test:443/x")).has_value());
  EXPECT_FALSE(net::authorization_for(f.client.download_request("http://hub.test/x")).has_value());
}

TEST(HubRedirects, DeadlinesForMetadataAndRanges) {
  Fixture f;
  f.transport.add(Method::get, k_endpoint + "/api/models/o/r/revision/main", 200, {},
                  R"({"sha":")" + k_commit + "\"}");
  ASSERT_TRUE(f.client.resolve_revision(RepoType::model, "o/r", "main").ok());
  EXPECT_EQ(f.transport.requests()[0].request.total_timeout, std::chrono::milliseconds(60'000));
  // 64 MiB at 32 KiB/s = 2048 s, plus 120 s.
  auto ranged = f.client.download_request(k_endpoint + "/x", net::ByteRange{0, (64u << 20) - 1});
  EXPECT_EQ(ranged.total_timeout, std::chrono::milliseconds((120 + 2048) * 1000));
  auto small = f.client.download_request(k_endpoint + "/x", net::ByteRange{100, 100});
  EXPECT_EQ(small.total_timeout, std::chrono::milliseconds(120'000 + 1000 / 32 / 1024));
  // Open-ended streams have no total deadline (size unknown here): the low-speed limit holds.
  EXPECT_EQ(f.client.download_request(k_endpoint + "/x").total_timeout.count(), 0);
  EXPECT_EQ(f.client.download_request(k_endpoint + "/x", net::ByteRange{5, std::nullopt})
                .total_timeout.count(),
            0);
  EXPECT_GT(ranged.low_speed_limit, 0u);
}

}  // namespace
}  // namespace mb::hub::redirects_test
