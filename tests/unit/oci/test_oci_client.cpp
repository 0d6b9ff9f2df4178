#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/file.hpp"
#include "core/hash.hpp"
#include "oci/auth.hpp"
#include "oci/client.hpp"
#include "oci/manifest.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "support/temp_dir.hpp"

namespace mb::oci {
namespace {

using net::Method;

constexpr const char* k_base = "http://reg.test:5000";

ClientOptions options() {
  ClientOptions o;
  o.plain_http = true;
  o.retry = net::RetryPolicy::none();
  return o;
}

std::string blob_url(const std::string& digest) {
  return std::string(k_base) + "/v2/team/m/blobs/" + digest;
}

TEST(OciClient, HeadReportsPresenceAndSize) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 200, {{"Content-Length", "42"}});
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  auto size = c.blob_size("team/m", d);
  ASSERT_TRUE(size.ok()) << size.error().message;
  EXPECT_EQ(size->value_or(0), 42u);
  std::string missing = "sha256:" + std::string(64, 'b');
  t.add(Method::head, blob_url(missing), 404, {});
  auto none = c.blob_size("team/m", missing);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(OciClient, BasicChallengeRetriesWithCredentials) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 401, {{"WWW-Authenticate", R"(Basic realm="r")"}});
  t.add(Method::head, blob_url(d), 200, {{"Content-Length", "1"}});
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"u", "pw"}, options());
  ASSERT_TRUE(c.blob_size("team/m", d).ok());
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_FALSE(reqs[0].authorization.has_value());  // anonymous first
  EXPECT_EQ(reqs[1].authorization.value_or(""), "Basic " + base64_encode("u:pw"));
}

TEST(OciClient, BasicChallengeWithoutCredentialsIsAuthError) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 401, {{"WWW-Authenticate", R"(Basic realm="r")"}});
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  auto r = c.blob_size("team/m", d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::auth);
}

TEST(OciClient, UnauthorizedWithoutChallengeIsAuthError) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 401, {});
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"u", "pw"}, options());
  auto r = c.blob_size("team/m", d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::auth);
  EXPECT_NE(r.error().message.find("WWW-Authenticate"), std::string::npos);
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos);
}

TEST(OciClient, BearerChallengeFetchesTokenPerScope) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(
      Method::head, blob_url(d), 401,
      {{"WWW-Authenticate",
        R"(Bearer realm="https://auth.test/token",service="reg",scope="repository:team/m:pull")"}});
  t.add(Method::head, blob_url(d), 200, {{"Content-Length", "1"}});
  t.add(Method::get,
        "https://auth.test/token?service=reg&scope=repository%3Ateam%2Fm%3Apull%2Cpush", 200, {},
        R"({"token":"tok-123456"})");
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"u", "pw"}, options());
  ASSERT_TRUE(c.blob_size("team/m", d).ok());
  ASSERT_TRUE(c.blob_size("team/m", d).ok());  // cached token: no second token request
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[1].request.url.rfind("https://auth.test/token", 0), 0u);
  EXPECT_EQ(reqs[1].authorization.value_or(""), "Basic " + base64_encode("u:pw"));
  EXPECT_EQ(reqs[2].authorization.value_or(""), "Bearer tok-123456");
  EXPECT_EQ(reqs[3].authorization.value_or(""), "Bearer tok-123456");
}

TEST(OciClient, IdentityTokenIsTradedWithARefreshTokenPost) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 401,
        {{"WWW-Authenticate", R"(Bearer realm="https://auth.test/token",service="reg")"}});
  t.add(Method::head, blob_url(d), 200, {{"Content-Length", "1"}});
  t.add(Method::post, "https://auth.test/token", 200, {}, R"({"access_token":"acc-654321"})");
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"", "", "refresh/tok+1"}, options());
  ASSERT_TRUE(c.blob_size("team/m", d).ok());
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_FALSE(reqs[1].authorization.has_value());  // the token is in the form, never Basic
  EXPECT_EQ(
      reqs[1].request.body,
      "grant_type=refresh_token&client_id=modelbake&refresh_token=refresh%2Ftok%2B1&service=reg"
      "&scope=repository%3Ateam%2Fm%3Apull%2Cpush");
  EXPECT_EQ(reqs[1].request.headers.get("Content-Type").value_or(""),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(reqs[2].authorization.value_or(""), "Bearer acc-654321");
}

TEST(OciClient, IdentityTokenIsNoBasicPassword) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + std::string(64, 'a');
  t.add(Method::head, blob_url(d), 401, {{"WWW-Authenticate", R"(Basic realm="r")"}});
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"", "", "idtoken-basic-1"}, options());
  auto r = c.blob_size("team/m", d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::auth);
}

TEST(OciClient, MonolithicUploadUsesLocationVerbatim) {
  net::FakeTransport t;
  FakeClock clock;
  std::string data = "hello blob";
  std::string d = "sha256:" + sha256_hex(data);
  t.add(Method::post, std::string(k_base) + "/v2/team/m/blobs/uploads/", 202,
        {{"Location", "/upload/abc?_state=xyz"}});
  t.add(Method::put,
        std::string(k_base) + "/upload/abc?_state=xyz&digest=sha256%3A" + sha256_hex(data), 201,
        {});
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  Status s = c.upload_blob("team/m", d, BlobSource{&data, -1, data.size()});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].request.body, data);
  EXPECT_EQ(reqs[1].request.headers.get("Content-Type").value_or(""), "application/octet-stream");
}

TEST(OciClient, ChunkedUploadChecksRange) {
  net::FakeTransport t;
  FakeClock clock;
  std::string data(10, 'x');
  std::string d = "sha256:" + sha256_hex(data);
  ClientOptions o = options();
  o.chunk_threshold = 4;
  o.chunk_size = 4;
  t.add(Method::post, std::string(k_base) + "/v2/team/m/blobs/uploads/", 202,
        {{"Location", "http://reg.test:5000/u/1"}});
  t.add(Method::patch, "http://reg.test:5000/u/1", 202, {{"Location", "/u/2"}, {"Range", "0-3"}});
  t.add(Method::patch, "http://reg.test:5000/u/2", 202, {{"Location", "/u/3"}, {"Range", "0-7"}});
  t.add(Method::patch, "http://reg.test:5000/u/3", 202, {{"Location", "/u/4"}, {"Range", "0-9"}});
  t.add(Method::put, "http://reg.test:5000/u/4?digest=sha256%3A" + sha256_hex(data), 201, {});
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, o);
  Status s = c.upload_blob("team/m", d, BlobSource{&data, -1, data.size()});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[2].request.headers.get("Content-Range").value_or(""), "4-7");
  EXPECT_EQ(reqs[3].request.body, "xx");

  // A registry acknowledging the wrong range fails the upload.
  net::FakeTransport bad;
  bad.add(Method::post, std::string(k_base) + "/v2/team/m/blobs/uploads/", 202,
          {{"Location", "/u/1"}});
  bad.add(Method::patch, "http://reg.test:5000/u/1", 202, {{"Location", "/u/2"}, {"Range", "0-1"}});
  RegistryClient c2(bad, clock, "reg.test:5000", std::nullopt, o);
  EXPECT_FALSE(c2.upload_blob("team/m", d, BlobSource{&data, -1, data.size()}).ok());
}

TEST(OciClient, DownloadFollowsRedirectWithoutCredentialsAndVerifies) {
  net::FakeTransport t;
  FakeClock clock;
  std::string data = "layer bytes";
  std::string d = "sha256:" + sha256_hex(data);
  t.add(Method::get, blob_url(d), 401, {{"WWW-Authenticate", R"(Basic realm="r")"}});
  t.add(Method::get, blob_url(d), 307, {{"Location", "http://storage.test/b/1"}});
  t.add(Method::get, "http://storage.test/b/1", 200, {}, data);
  RegistryClient c(t, clock, "reg.test:5000", Credentials{"u", "pw"}, options());
  test::TempDir dir;
  std::string dest = dir.path() + "/blob";
  Status s = c.download_blob("team/m", d, data.size(), dest);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(read_file(dest).value_or(""), data);
  auto reqs = t.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(reqs[1].authorization.has_value());
  EXPECT_FALSE(reqs[2].authorization.has_value());
}

TEST(OciClient, DownloadWithWrongDigestFailsAndRemovesFile) {
  net::FakeTransport t;
  FakeClock clock;
  std::string d = "sha256:" + sha256_hex("expected");
  t.add(Method::get, blob_url(d), 200, {}, "tampered");
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  test::TempDir dir;
  std::string dest = dir.path() + "/blob";
  Status s = c.download_blob("team/m", d, 8, dest);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().category, ErrorCategory::integrity);
  EXPECT_NE(::access(dest.c_str(), F_OK), 0);
}

TEST(OciClient, ManifestGetSendsAcceptAndChecksDigest) {
  net::FakeTransport t;
  FakeClock clock;
  std::string body = R"({"schemaVersion":2})";
  t.add(Method::get, std::string(k_base) + "/v2/team/m/manifests/v1", 200,
        {{"Content-Type", std::string(media::oci_manifest)},
         {"Docker-Content-Digest", "sha256:" + sha256_hex(body)}},
        body);
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  auto m = c.get_manifest("team/m", "v1");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->bytes, body);
  EXPECT_EQ(t.requests()[0].request.headers.get("Accept").value_or(""), manifest_accept_header());

  std::string other = "sha256:" + std::string(64, 'f');
  t.add(Method::get, std::string(k_base) + "/v2/team/m/manifests/" + other, 200, {}, body);
  auto wrong = c.get_manifest("team/m", other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().category, ErrorCategory::integrity);
}

TEST(OciClient, ManifestPutSendsContentType) {
  net::FakeTransport t;
  FakeClock clock;
  std::string body = "{}";
  t.add(Method::put, std::string(k_base) + "/v2/team/m/manifests/v1", 201,
        {{"Docker-Content-Digest", "sha256:" + sha256_hex(body)}});
  RegistryClient c(t, clock, "reg.test:5000", std::nullopt, options());
  auto d = c.put_manifest("team/m", "v1", std::string(media::oci_manifest), body);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d, "sha256:" + sha256_hex(body));
  EXPECT_EQ(t.requests()[0].request.headers.get("Content-Type").value_or(""), media::oci_manifest);
}

}  // namespace
}  // namespace mb::oci

namespace mb::oci {
namespace {

// Issue 12: a registry's error text reaches the user only through the one sanitiser.
TEST(OciClient, RegistryErrorShowsServerTextWithoutControlCharacters) {
  net::Response r;
  r.status = 404;
  r.effective_url = "https://reg.test/v2/x/manifests/latest";
  r.body = R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone\u001b]0;pwned\u0007\u007f"}]})";
  auto e = registry_error(r, "pull x");
  EXPECT_EQ(e.message.find('\x1b'), std::string::npos);
  EXPECT_EQ(e.message.find('\x07'), std::string::npos);
  EXPECT_EQ(e.message.find('\x7f'), std::string::npos);
  EXPECT_NE(e.message.find("(MANIFEST_UNKNOWN: gone?]0;pwned?"
                           "?)"),
            std::string::npos);
}

}  // namespace
}  // namespace mb::oci
