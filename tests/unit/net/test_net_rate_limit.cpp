// Issue 11.6: the Hub answers 429 with `RateLimit: "api";r=0;t=<s>` and often no
// Retry-After; modelbake must wait what the header says (t + 1 s), within its cap.
#include <gtest/gtest.h>

#include "core/log.hpp"
#include "net/rate_limit.hpp"
#include "net/retry.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"

namespace mb::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Headers headers(std::vector<std::pair<std::string, std::string>> list) {
  Headers h;
  for (auto& [k, v] : list) h.add(k, v);
  return h;
}

Response rate_limited(std::string value, std::string policy = {}) {
  Response r;
  r.status = 429;
  r.headers.add("RateLimit", std::move(value));
  if (!policy.empty()) r.headers.add("RateLimit-Policy", std::move(policy));
  return r;
}

TEST(NetRateLimit, ParsesTheHubsHeaders) {
  auto l =
      parse_rate_limit(headers({{"ratelimit", "\"api\";r=0;t=55"},
                                {"RateLimit-Policy", "\"fixed window\";\"api\";q=500;w=300"}}));
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->bucket, "api");
  EXPECT_EQ(l->remaining, 0u);
  EXPECT_EQ(l->reset_seconds, 55u);
  EXPECT_EQ(l->quota.value(), 500u);
  EXPECT_EQ(l->window_seconds.value(), 300u);
  EXPECT_EQ(describe(*l), "\"api\" limit, 500 requests per 300 s");
  // Spaces around the separators, as huggingface_hub's regex allows; no policy.
  auto s = parse_rate_limit(headers({{"RateLimit", "\"resolvers\" ; r = 3 ; t = 7"}}));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->remaining, 3u);
  EXPECT_EQ(s->reset_seconds, 7u);
  EXPECT_FALSE(s->quota.has_value());
  EXPECT_EQ(describe(*s), "\"resolvers\" limit");
}

TEST(NetRateLimit, MalformedOrHostileValuesAreIgnoredOrClamped) {
  for (const char* bad :
       {"", "api;r=0;t=5", "\"api\";t=5;r=0", "\"api\";r=-1;t=5",
        "\"api\";r=0;t=", "\"api\";r=0;t=abc", "\"\";r=0;t=5", "\"a pi\";r=0;t=5", "\"api\""}) {
    EXPECT_FALSE(parse_rate_limit(headers({{"RateLimit", bad}})).has_value()) << bad;
  }
  EXPECT_FALSE(
      parse_rate_limit(headers({{"RateLimit", "\"" + std::string(65, 'a') + "\";r=0;t=1"}})));
  EXPECT_FALSE(parse_rate_limit(headers({{"RateLimit", std::string(5000, '"')}})));
  EXPECT_FALSE(parse_rate_limit(headers({})).has_value());
  // A huge t is clamped instead of overflowing; the cap of the retry policy then applies.
  auto huge = parse_rate_limit(headers({{"RateLimit", "\"api\";r=0;t=999999999999999999999999"}}));
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(huge->reset_seconds, k_max_rate_limit_seconds);
  // Garbage policy: the limit stays usable without quota/window.
  auto p =
      parse_rate_limit(headers({{"RateLimit", "\"api\";r=0;t=1"}, {"RateLimit-Policy", "q=;w=x"}}));
  ASSERT_TRUE(p.has_value());
  EXPECT_FALSE(p->quota.has_value());
}

TEST(NetRateLimit, ServerWaitIsResetPlusOneSecondOnlyWhenExhausted) {
  FakeClock clock;
  EXPECT_EQ(server_wait(rate_limited("\"api\";r=0;t=55"), clock), milliseconds(56'000));
  EXPECT_EQ(server_wait(rate_limited("\"api\";r=0;t=0"), clock), milliseconds(1'000));
  // Requests left: RateLimit is no reason to wait; Retry-After (if any) decides.
  EXPECT_FALSE(server_wait(rate_limited("\"api\";r=4;t=55"), clock).has_value());
  Response both = rate_limited("\"api\";r=2;t=55");
  both.headers.add("Retry-After", "9");
  EXPECT_EQ(server_wait(both, clock), milliseconds(9'000));
  // RateLimit only counts on a 429.
  Response unavailable = rate_limited("\"api\";r=0;t=55");
  unavailable.status = 503;
  EXPECT_FALSE(server_wait(unavailable, clock).has_value());
}

RetryPolicy policy() {
  RetryPolicy p;
  p.max_attempts = 6;
  p.jitter = 0;
  p.seed = 1;
  return p;
}

// The whole loop with a fake transport and clock: two 429 windows without Retry-After,
// then success; the sleeps are exactly t + 1 s, and the user is told why we wait.
TEST(NetRateLimit, PerformWithRetryWaitsForTheWindowAndSucceeds) {
  FakeClock clock;
  FakeTransport t;
  const std::string url = "https://hub.test/api/models/org/x/revision/main";
  t.add(Method::get, url, 429,
        {{"RateLimit", "\"api\";r=0;t=40"},
         {"RateLimit-Policy", "\"fixed window\";\"api\";q=500;w=300"}});
  t.add(Method::get, url, 429, {{"RateLimit", "\"api\";r=0;t=2"}});
  t.add(Method::get, url, 200, {}, "{}");
  Request req;
  req.url = url;
  testing::internal::CaptureStderr();
  auto r = perform_with_retry(t, req, policy(), clock);
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  std::vector<milliseconds> expected = {milliseconds(41'000), milliseconds(3'000)};
  EXPECT_EQ(clock.sleeps(), expected);
  EXPECT_NE(err.find("rate limited"), std::string::npos) << err;
  EXPECT_NE(err.find("\"api\" limit, 500 requests per 300 s"), std::string::npos) << err;
  EXPECT_NE(err.find("waiting 41.0s as the server asked"), std::string::npos) << err;
}

TEST(NetRateLimit, WaitBeyondTheCapGivesUpAtOnce) {
  FakeClock clock;
  FakeTransport t;
  const std::string url = "https://hub.test/api/x";
  t.add(Method::get, url, 429, {{"RateLimit", "\"api\";r=0;t=3600"}});
  Request req;
  req.url = url;
  auto r = perform_with_retry(t, req, policy(), clock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::transient);
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_EQ(t.request_count(), 1u);
  EXPECT_NE(r.error().message.find("longer than the 600.0s modelbake waits at most"),
            std::string::npos)
      << r.error().message;
}

TEST(NetRateLimit, RetriesStillBoundTheNumberOfWaits) {
  FakeClock clock;
  FakeTransport t;
  const std::string url = "https://hub.test/api/x";
  t.add(Method::get, url, 429, {{"RateLimit", "\"api\";r=0;t=1"}});  // repeats forever
  Request req;
  req.url = url;
  RetryPolicy p = policy();
  p.max_attempts = 3;  // --retries 2
  auto r = perform_with_retry(t, req, p, clock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(t.request_count(), 3u);
  EXPECT_EQ(clock.sleeps().size(), 2u);
  EXPECT_NE(r.error().message.find("gave up after 3 attempts"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace mb::net

namespace mb::net {
namespace {

// Issue 12: the server's X-Error-Message reaches the user only through the one sanitiser.
TEST(StatusError, ShowsServerTextWithoutControlCharacters) {
  Response r;
  r.status = 500;
  r.effective_url = "https://hub.test/x";
  r.headers.add("X-Error-Message", "boom\x1b[2J\x7f" + std::string(400, 'z'));
  auto e = status_error(r, "GET x");
  EXPECT_EQ(e.message.find('\x1b'), std::string::npos);
  EXPECT_EQ(e.message.find('\x7f'), std::string::npos);
  EXPECT_NE(e.message.find("(boom?[2J?zzz"), std::string::npos);
  EXPECT_NE(e.message.find("z...)"), std::string::npos);
}

}  // namespace
}  // namespace mb::net
