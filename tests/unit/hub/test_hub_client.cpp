#include <gtest/gtest.h>

#include "hub/client.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"

namespace mb::hub {
namespace {

using net::Method;

const std::string k_endpoint = "https://hub.test";
const std::string k_token = "hf_unitTestSecretToken42";
const std::string k_commit = "0123456789abcdef0123456789abcdef01234567";
const std::string k_sha1 = "a16a55fda99d2f2e7b69cce5cf93ff4ad3049930";
const std::string k_sha256 = "7c5d3f4b8b76583b422fcb9189ad6c89d5d97a094541ce8932dce3ecabde1421";

struct Fixture {
  net::FakeTransport transport;
  FakeClock clock;
  HubClient client;

  explicit Fixture(bool with_token = true)
      : client(transport, clock, [&] {
          ClientOptions o;
          o.endpoint = k_endpoint + "/";
          if (with_token) o.token = k_token;
          o.retry.jitter = 0;
          o.retry.seed = 1;
          o.retry.max_attempts = 3;
          return o;
        }()) {}
};

std::string tree_url(const std::string& repo = "org/model") {
  return k_endpoint + "/api/models/" + repo + "/tree/" + k_commit + "?recursive=true&expand=false";
}

std::string file_json(const std::string& path, uint64_t size, const std::string& oid = k_sha1) {
  return R"({"type":"file","path":")" + path + R"(","size":)" + std::to_string(size) +
         R"(,"oid":")" + oid + "\"}";
}

TEST(HubClient, ResolvesRevisionWithQuotedRefAndToken) {
  Fixture f;
  f.transport.add(Method::get, k_endpoint + "/api/models/org/model/revision/refs%2Fpr%2F1", 200, {},
                  R"({"id":"org/model","sha":")" + k_commit + "\"}");
  auto r = f.client.resolve_revision(RepoType::model, "org/model", "refs/pr/1");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, k_commit);
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].authorization.value(), "Bearer " + k_token);
}

TEST(HubClient, CommitRevisionNeedsNoRequest) {
  Fixture f;
  EXPECT_EQ(f.client.resolve_revision(RepoType::dataset, "org/data", k_commit).value(), k_commit);
  EXPECT_EQ(f.transport.request_count(), 0u);
}

TEST(HubClient, RevisionResponseIsValidated) {
  Fixture f;
  const std::string url = k_endpoint + "/api/datasets/org/data/revision/main";
  f.transport.add(Method::get, url, 200, {}, "{not json");
  f.transport.add(Method::get, url, 200, {}, R"({"sha":"../../etc"})");
  f.transport.add(Method::get, url, 200, {}, R"(["sha"])");
  for (int i = 0; i < 3; ++i) {
    auto r = f.client.resolve_revision(RepoType::dataset, "org/data", "main");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().category, ErrorCategory::permanent);
  }
  auto bad = f.client.resolve_revision(RepoType::model, "../etc", "main");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::usage);
}

TEST(HubClient, ListsFilesFollowingLinkPagination) {
  Fixture f;
  const std::string page2 = k_endpoint + "/api/models/org/model/tree/" + k_commit + "?cursor=abc";
  f.transport.add(Method::get, tree_url(), 200, {{"Link", "<" + page2 + ">; rel=\"next\""}},
                  "[" + file_json("z.json", 10) + R"(,{"type":"directory","path":"sub","oid":")" +
                      k_sha1 + R"(","size":0},)" + file_json("sub/a.txt", 3) + "]");
  f.transport.add(Method::get, page2, 200, {},
                  R"([{"type":"file","path":"model.safetensors","size":1000,"oid":")" + k_sha1 +
                      R"(","lfs":{"oid":")" + k_sha256 + R"(","size":1000,"pointerSize":134}}])");
  auto r = f.client.list_files(RepoType::model, "org/model", k_commit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].path, "model.safetensors");
  EXPECT_TRUE((*r)[0].is_lfs());
  EXPECT_EQ((*r)[0].etag(), k_sha256);
  EXPECT_EQ((*r)[0].size, 1000u);
  EXPECT_EQ((*r)[1].path, "sub/a.txt");
  EXPECT_EQ((*r)[1].etag(), k_sha1);
  EXPECT_EQ((*r)[2].path, "z.json");
  EXPECT_EQ(f.transport.request_count(), 2u);
}

// Issue 11.7: pages are followed like huggingface_hub does, also to another origin, but the
// token stays with the endpoint (scheme, host and port).
TEST(HubClient, FollowsPaginationToAnotherOriginWithoutTheToken) {
  Fixture f;
  const std::string evil = "https://pages.test/api/models/org/model/tree/x?cursor=2";
  const std::string downgrade = "http://hub.test:443/api/models/org/model/tree/x?cursor=3";
  f.transport.add(Method::get, tree_url(), 200, {{"Link", "<" + evil + ">; rel=\"next\""}},
                  "[" + file_json("a", 1) + "]");
  f.transport.add(Method::get, evil, 200, {{"Link", "<" + downgrade + ">; rel=\"next\""}},
                  "[" + file_json("b", 1) + "]");
  f.transport.add(Method::get, downgrade, 200, {}, "[" + file_json("c", 1) + "]");
  auto r = f.client.list_files(RepoType::model, "org/model", k_commit);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 3u);
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(reqs[0].authorization.has_value());
  EXPECT_FALSE(reqs[1].authorization.has_value());  // another host
  EXPECT_FALSE(reqs[2].authorization.has_value());  // same host:port, but http
}

TEST(HubClient, RefusesPaginationLoops) {
  Fixture g;
  g.transport.add(Method::get, tree_url(), 200, {{"Link", "<" + tree_url() + ">; rel=next"}},
                  "[" + file_json("a", 1) + "]");
  auto loop = g.client.list_files(RepoType::model, "org/model", k_commit);
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.error().message.find("pagination"), std::string::npos);
}

struct HostileCase {
  std::string body;
  std::string expect_in_message;
};

TEST(HubClient, RejectsHostileListings) {
  const std::vector<HostileCase> cases = {
      {"[" + file_json("../../etc/x", 1) + "]", "../../etc/x"},
      {"[" + file_json("/etc/passwd", 1) + "]", "/etc/passwd"},
      {"[" + file_json("a/./b", 1) + "]", "a/./b"},
      {"[" + file_json("big.bin", (uint64_t{1} << 50) + 1) + "]", "size"},
      {R"([{"type":"file","path":"neg","size":-1,"oid":")" + k_sha1 + "\"}]", "size"},
      {"[" + file_json("x", 1, "nothex") + "]", "oid"},
      {"[" + file_json("dup", 1) + "," + file_json("dup", 2) + "]", "twice"},
      {"[" + file_json("a", 1) + "," + file_json("a/b", 2) + "]", "folder"},
      {R"([{"type":"file","path":"l","size":1,"oid":")" + k_sha1 + R"(","lfs":{"oid":"abc"}}])",
       "sha256"},
      {R"({"error":"x"})", "array"},
      {"[1,2]", "entry"},
      {"garbage", "JSON"},
  };
  for (const auto& c : cases) {
    Fixture f;
    f.transport.add(Method::get, tree_url(), 200, {}, c.body);
    auto r = f.client.list_files(RepoType::model, "org/model", k_commit);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().category, ErrorCategory::permanent) << c.body;
    EXPECT_NE(r.error().message.find(c.expect_in_message), std::string::npos) << r.error().message;
  }
}

std::string resolve(const std::string& repo, const std::string& path) {
  return k_endpoint + "/" + repo + "/resolve/" + k_commit + "/" + path;
}

TEST(HubClient, MetadataOfRegularFile) {
  Fixture f;
  f.transport.add(
      Method::head, resolve("org/model", "dir/config%20x.json"), 200,
      {{"X-Repo-Commit", k_commit}, {"ETag", "W/\"" + k_sha1 + "\""}, {"Content-Length", "321"}});
  auto m = f.client.file_metadata(RepoType::model, "org/model", k_commit, "dir/config x.json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->commit, k_commit);
  EXPECT_EQ(m->etag, k_sha1);
  EXPECT_EQ(m->size, 321u);
  EXPECT_FALSE(m->redirected);
  EXPECT_EQ(m->location, resolve("org/model", "dir/config%20x.json"));
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].request.headers.get("Accept-Encoding").value(), "identity");
}

TEST(HubClient, MetadataOfLfsFileAndCrossHostTokenStripping) {
  Fixture f;
  const std::string cdn = "https://cdn.other.test/blob/x?X-Amz-Signature=s3cr3t&X-Amz-Expires=3600";
  f.transport.add(Method::head, resolve("org/model", "model.safetensors"), 302,
                  {{"X-Repo-Commit", k_commit},
                   {"X-Linked-Etag", "\"" + k_sha256 + "\""},
                   {"X-Linked-Size", "5000000000"},
                   {"Content-Length", "1"},
                   {"Location", cdn}});
  auto m = f.client.file_metadata(RepoType::model, "org/model", k_commit, "model.safetensors");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->redirected);
  EXPECT_EQ(m->location, cdn);
  EXPECT_EQ(m->etag, k_sha256);
  EXPECT_EQ(m->size, 5000000000u);

  // The download request sends the token to the hub host only.
  f.transport.add(Method::get, cdn, 206, {}, "abc");
  f.transport.add(Method::get, m->location, 206, {}, "abc");
  auto req = f.client.download_request(m->location, net::ByteRange{0, 2});
  ASSERT_TRUE(f.transport.perform(req).ok());
  auto same_host = f.client.download_request(resolve("org/model", "config.json"));
  (void)f.transport.perform(same_host);
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(reqs[0].authorization.has_value());   // HEAD on the hub
  EXPECT_FALSE(reqs[1].authorization.has_value());  // GET on the CDN
  EXPECT_EQ(reqs[1].request.range->header_value(), "bytes=0-2");
  EXPECT_EQ(reqs[2].authorization.value(), "Bearer " + k_token);  // GET on the hub
}

TEST(HubClient, FollowsRelativeRedirectsWithToken) {
  Fixture f;
  f.transport.add(Method::head, resolve("old/name", "a.json"), 307,
                  {{"Location", "/new/name/resolve/" + k_commit + "/a.json"}});
  f.transport.add(
      Method::head, resolve("new/name", "a.json"), 200,
      {{"X-Repo-Commit", k_commit}, {"ETag", "\"" + k_sha1 + "\""}, {"Content-Length", "5"}});
  auto m = f.client.file_metadata(RepoType::model, "old/name", k_commit, "a.json");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->location, resolve("new/name", "a.json"));
  EXPECT_FALSE(m->redirected);
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[1].authorization.has_value());
}

TEST(HubClient, RelativeRedirectLoopStops) {
  Fixture f;
  f.transport.add(Method::head, resolve("a/b", "f"), 307,
                  {{"Location", "/a/b/resolve/" + k_commit + "/f"}});
  auto m = f.client.file_metadata(RepoType::model, "a/b", k_commit, "f");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("too many redirects"), std::string::npos);
}

TEST(HubClient, MetadataIsValidated) {
  struct Case {
    int status;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string expect;
  };
  const std::string other = "fedcba9876543210fedcba9876543210fedcba98";
  const std::vector<Case> cases = {
      {200, {{"ETag", k_sha1}, {"Content-Length", "1"}}, "X-Repo-Commit"},
      {200,
       {{"X-Repo-Commit", "main"}, {"ETag", k_sha1}, {"Content-Length", "1"}},
       "X-Repo-Commit"},
      {200, {{"X-Repo-Commit", other}, {"ETag", k_sha1}, {"Content-Length", "1"}}, other},
      {200, {{"X-Repo-Commit", k_commit}, {"Content-Length", "1"}}, "ETag"},
      {200, {{"X-Repo-Commit", k_commit}, {"ETag", "\"../x\""}, {"Content-Length", "1"}}, "etag"},
      {200, {{"X-Repo-Commit", k_commit}, {"ETag", k_sha1}}, "Content-Length"},
      {200,
       {{"X-Repo-Commit", k_commit}, {"ETag", k_sha1}, {"Content-Length", "99999999999999999"}},
       "size"},
      {302,
       {{"X-Repo-Commit", k_commit},
        {"X-Linked-Etag", k_sha256},
        {"Content-Length", "9"},
        {"Location", "https://cdn.test/x"}},
       "X-Linked-Size"},
      {302,
       {{"X-Repo-Commit", k_commit}, {"X-Linked-Etag", k_sha256}, {"X-Linked-Size", "9"}},
       "Location"},
      {302,
       {{"X-Repo-Commit", k_commit},
        {"X-Linked-Etag", k_sha256},
        {"X-Linked-Size", "9"},
        {"Location", "file:///etc/passwd"}},
       "Location"},
  };
  for (const auto& c : cases) {
    Fixture f;
    f.transport.add(Method::head, resolve("o/m", "f"), c.status, c.headers);
    auto m = f.client.file_metadata(RepoType::model, "o/m", k_commit, "f");
    ASSERT_FALSE(m.ok()) << c.expect;
    EXPECT_EQ(m.error().category, ErrorCategory::permanent);
    EXPECT_NE(m.error().message.find(c.expect), std::string::npos) << m.error().message;
  }
}

net::Response error_response(int status, std::string code, std::string message = {}) {
  net::Response r;
  r.status = status;
  if (!code.empty()) r.headers.add("X-Error-Code", code);
  if (!message.empty()) r.headers.add("X-Error-Message", message);
  return r;
}

TEST(HubClient, MapsHubErrorCodes) {
  Fixture anon(false);
  const std::string rev_url = k_endpoint + "/api/models/org/private/revision/main";
  anon.transport.add(Method::get, rev_url,
                     error_response(401, "RepoNotFound", "Repository not found"));
  auto e = anon.client.resolve_revision(RepoType::model, "org/private", "main");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().category, ErrorCategory::auth);
  EXPECT_NE(
      e.error().message.find(
          "repository org/private not found on https://hub.test (or it is private: set HF_TOKEN)"),
      std::string::npos)
      << e.error().message;

  Fixture f;
  auto map = [&](const net::Response& r) {
    return f.client.error_from_response(r, RepoType::model, "org/m", "org/m@main");
  };
  Error gated = map(error_response(401, "GatedRepo", "Access to model org/m is restricted."));
  EXPECT_EQ(gated.category, ErrorCategory::auth);
  EXPECT_NE(gated.hint.find("accept the terms"), std::string::npos);
  EXPECT_NE(gated.hint.find("https://hub.test/org/m"), std::string::npos);
  Error rev = map(error_response(404, "RevisionNotFound"));
  EXPECT_EQ(rev.category, ErrorCategory::permanent);
  EXPECT_NE(rev.message.find("revision not found"), std::string::npos);
  Error entry = map(error_response(404, "EntryNotFound"));
  EXPECT_EQ(entry.category, ErrorCategory::permanent);
  EXPECT_NE(entry.message.find("file not found"), std::string::npos);
  Error repo404 = map(error_response(404, "RepoNotFound"));
  EXPECT_EQ(repo404.category, ErrorCategory::permanent);
  EXPECT_EQ(map(error_response(403, "")).category, ErrorCategory::auth);
  Error bad_token = map(error_response(401, "", "Invalid credentials in Authorization header"));
  EXPECT_EQ(bad_token.category, ErrorCategory::auth);
  EXPECT_NE(bad_token.message.find("rejected the token"), std::string::npos);
  EXPECT_EQ(map(error_response(429, "")).category, ErrorCategory::transient);
  EXPECT_EQ(map(error_response(503, "")).category, ErrorCategory::transient);
  EXPECT_EQ(map(error_response(400, "")).category, ErrorCategory::permanent);
  // A server echoing the token never gets it into our messages.
  Error echo = map(error_response(403, "", "bad token " + k_token));
  EXPECT_EQ(echo.message.find(k_token), std::string::npos);
  EXPECT_EQ(echo.hint.find(k_token), std::string::npos);
}

TEST(HubClient, RetriesTransientHubErrors) {
  Fixture f;
  const std::string url = resolve("o/m", "f");
  f.transport.add(Method::head, url, 503, {});
  f.transport.add(Method::head, url, 200,
                  {{"X-Repo-Commit", k_commit}, {"ETag", k_sha1}, {"Content-Length", "2"}});
  auto m = f.client.file_metadata(RepoType::model, "o/m", k_commit, "f");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(f.clock.sleeps().size(), 1u);

  Fixture g;
  g.transport.add(Method::get, tree_url(), 500, {});
  auto r = g.client.list_files(RepoType::model, "org/model", k_commit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::transient);
  EXPECT_EQ(g.transport.request_count(), 3u);  // max_attempts
}

TEST(HubClient, DatasetUrlsAndEtagHelpers) {
  Fixture f;
  EXPECT_EQ(f.client.endpoint(), k_endpoint);
  EXPECT_EQ(f.client.resolve_url(RepoType::dataset, "o/d", "refs/pr/2", "a b/c.csv"),
            k_endpoint + "/datasets/o/d/resolve/refs%2Fpr%2F2/a%20b/c.csv");
  EXPECT_EQ(f.client.api_url(RepoType::dataset, "o/d"), k_endpoint + "/api/datasets/o/d");
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("\"abc\""), "abc");
  EXPECT_TRUE(is_commit_hash(k_commit));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_EQ(parse_repo_type("dataset").value(), RepoType::dataset);
  EXPECT_FALSE(parse_repo_type("space").has_value());
}

}  // namespace
}  // namespace mb::hub
