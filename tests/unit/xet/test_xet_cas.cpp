#include <gtest/gtest.h>

#include "hub/client.hpp"
#include "hub/xet_token.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"
#include "xet/cas.hpp"

namespace mb::xet {
namespace {

using net::Method;

const std::string k_endpoint = "https://hub.test";
const std::string k_hub_token = "hf_hubSecretTokenForXetTests";
const std::string k_commit = "0123456789abcdef0123456789abcdef01234567";
const std::string k_file(64, 'f');
const std::string k_xorb(64, 'a');
// The CAS on the hub's own origin, as behind a mirror: the hub token must still not go there.
const std::string k_cas = k_endpoint + "/cas";
const std::string k_token_url = k_endpoint + "/api/models/org/m/xet-read-token/" + k_commit;

std::string token_json(const std::string& token, int64_t exp) {
  return R"({"accessToken": ")" + token + R"(", "exp": )" + std::to_string(exp) +
         R"(, "casUrl": ")" + k_cas + R"("})";
}

std::string recon_v2() {
  return R"({"offset_into_first_range": 0, "terms": [{"hash": ")" + k_xorb +
         R"(", "unpacked_length": 3, "range": {"start": 0, "end": 1}}], "xorbs": {")" + k_xorb +
         R"(": [{"url": "https://bucket.test/x?sig=1", "ranges": [{"chunks": {"start": 0, "end": 1},
          "bytes": {"start": 0, "end": 10}}]}]}})";
}

struct Fixture {
  net::FakeTransport transport;
  FakeClock clock;
  hub::HubClient hub;
  hub::XetTokenProvider tokens;
  CasClient cas;

  Fixture()
      : hub(transport, clock,
            [] {
              hub::ClientOptions o;
              o.endpoint = k_endpoint;
              o.token = k_hub_token;
              o.retry.jitter = 0;
              o.retry.max_attempts = 2;
              return o;
            }()),
        tokens(hub, RepoType::model, "org/m", k_commit),
        cas(transport, clock, tokens, [] {
          CasOptions o;
          o.retry.jitter = 0;
          o.retry.max_attempts = 2;
          return o;
        }()) {}

  int64_t now() const { return clock.unix_seconds(); }
};

TEST(XetCas, OnlyTheXetTokenGoesToTheCasAndNothingToSignedUrls) {
  Fixture f;
  f.transport.add(Method::get, k_token_url, 200, {}, token_json("xet_one", f.now() + 3600));
  f.transport.add(Method::get, k_cas + "/v2/reconstructions/" + k_file, 200, {}, recon_v2());
  auto rec = f.cas.reconstruction(k_file, 0, 2);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  struct Null : net::BodySink {
    Status on_response(int, const net::Headers&) override { return {}; }
    Status on_data(const char*, size_t) override { return {}; }
  } sink;
  f.transport.add(Method::get, "https://bucket.test/x?sig=1", 206, {}, "");
  ASSERT_TRUE(f.cas.get_range(rec->fetches.at(0), sink).ok());
  auto reqs = f.transport.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].authorization, "Bearer " + k_hub_token);  // the token route is the hub's
  EXPECT_EQ(reqs[1].authorization, "Bearer xet_one");         // same origin, Xet token only
  EXPECT_EQ(reqs[1].request.range->header_value(), "bytes=0-2");
  EXPECT_EQ(reqs[2].authorization, std::nullopt);
  EXPECT_EQ(reqs[2].request.range->header_value(), "bytes=0-10");
}

TEST(XetCas, RefusedTokenIsReplacedOnceAndV2FallsBackToV1) {
  Fixture f;
  f.transport.add(Method::get, k_token_url, 200, {}, token_json("xet_old", f.now() + 3600));
  f.transport.add(Method::get, k_token_url, 200, {}, token_json("xet_new", f.now() + 3600));
  std::string v2 = k_cas + "/v2/reconstructions/" + k_file;
  f.transport.add(Method::get, v2, 401, {}, "expired");
  f.transport.add(Method::get, v2, 404, {}, "");
  std::string v1_body = R"({"offset_into_first_range": 0, "terms": [], "fetch_info": {}})";
  f.transport.add(Method::get, k_cas + "/v1/reconstructions/" + k_file, 200, {}, v1_body);
  auto rec = f.cas.reconstruction(k_file, 0, 9);
  ASSERT_TRUE(rec.ok()) << rec.error().message;
  EXPECT_EQ(f.cas.api_version(), 1);
  EXPECT_EQ(f.tokens.tokens_fetched(), 2);
  auto reqs = f.transport.requests();
  EXPECT_EQ(reqs.back().authorization, "Bearer xet_new");
}

TEST(XetCas, TokenIsRefreshedShortlyBeforeItExpires) {
  Fixture f;
  f.transport.add(Method::get, k_token_url, 200, {}, token_json("xet_a", f.now() + 100));
  f.transport.add(Method::get, k_token_url, 200, {}, token_json("xet_b", f.now() + 1000));
  EXPECT_EQ(f.tokens.get()->access_token, "xet_a");
  f.clock.advance(std::chrono::seconds(60));
  EXPECT_EQ(f.tokens.get()->access_token, "xet_a");  // 40 s left: still good
  f.clock.advance(std::chrono::seconds(15));
  EXPECT_EQ(f.tokens.get()->access_token, "xet_b");  // 25 s left: refreshed ahead
  EXPECT_EQ(f.tokens.tokens_fetched(), 2);
}

TEST(XetCas, HostileTokenAnswersAreRefused) {
  Fixture f;
  f.transport.add(Method::get, k_token_url, 200, {}, R"({"accessToken": "a\nb", "exp": 1,
      "casUrl": "https://cas.test"})");
  EXPECT_FALSE(f.tokens.get().ok());
  Fixture g;
  g.transport.add(
      Method::get, k_token_url, 200, {},
      token_json("ok", 1).replace(token_json("ok", 1).find(k_cas), k_cas.size(), "ftp://cas.test"));
  EXPECT_FALSE(g.tokens.get().ok());
}

}  // namespace
}  // namespace mb::xet
