#include <gtest/gtest.h>

#include "net/retry.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_transport.hpp"

namespace mb::net {
namespace {

using std::chrono::milliseconds;

RetryPolicy no_jitter_policy() {
  RetryPolicy p;
  p.max_attempts = 5;
  p.initial_delay = milliseconds(1000);
  p.multiplier = 2.0;
  p.max_delay = milliseconds(5000);
  p.jitter = 0.0;
  p.seed = 42;
  return p;
}

Error transient_error() { return make_error(ErrorCategory::transient, "connection reset"); }

TEST(NetRetry, BackoffSequenceIsExponentialAndCapped) {
  FakeClock clock;
  int calls = 0;
  auto r = with_retry(no_jitter_policy(), clock, [&]() -> Result<int> {
    ++calls;
    return transient_error();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(calls, 5);
  std::vector<milliseconds> expected = {milliseconds(1000), milliseconds(2000), milliseconds(4000),
                                        milliseconds(5000)};
  EXPECT_EQ(clock.sleeps(), expected);
  // Gives up with the last error, annotated.
  EXPECT_EQ(r.error().category, ErrorCategory::transient);
  EXPECT_NE(r.error().message.find("connection reset"), std::string::npos);
  EXPECT_NE(r.error().message.find("5 attempts"), std::string::npos);
}

TEST(NetRetry, SucceedsAfterTransientFailures) {
  FakeClock clock;
  int calls = 0;
  auto r = with_retry(no_jitter_policy(), clock, [&](Attempt& a) -> Result<int> {
    ++calls;
    EXPECT_EQ(a.number, calls);
    if (calls < 3) return transient_error();
    return 7;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(clock.sleeps().size(), 2u);
}

TEST(NetRetry, JitterStaysWithinBounds) {
  RetryPolicy p = no_jitter_policy();
  p.jitter = 0.5;
  p.max_delay = milliseconds(1'000'000);
  bool saw_below_nominal = false;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    p.seed = seed;
    Backoff b(p);
    for (int i = 0; i < 6; ++i) {
      auto nominal = b.nominal(i);
      auto d = b.next();
      EXPECT_LE(d, nominal);
      EXPECT_GE(d.count(), nominal.count() / 2);
      if (d < nominal) saw_below_nominal = true;
    }
  }
  EXPECT_TRUE(saw_below_nominal);  // jitter actually varies the delays
  // Same seed, same sequence (deterministic tests); different seeds differ.
  p.seed = 9;
  Backoff a(p), b(p);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(NetRetry, PermanentAndAuthErrorsAreNotRetried) {
  for (auto cat : {ErrorCategory::permanent, ErrorCategory::auth, ErrorCategory::integrity,
                   ErrorCategory::io, ErrorCategory::cancelled}) {
    FakeClock clock;
    int calls = 0;
    auto r = with_retry(no_jitter_policy(), clock, [&]() -> Result<int> {
      ++calls;
      return make_error(cat, "nope");
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(r.error().category, cat);
    EXPECT_EQ(r.error().message, "nope");
    EXPECT_TRUE(clock.sleeps().empty());
  }
}

TEST(NetRetry, RetryAfterIsRespected) {
  FakeClock clock;
  int calls = 0;
  auto r = with_retry(no_jitter_policy(), clock, [&](Attempt& a) -> Result<int> {
    if (++calls == 1) {
      a.retry_after = milliseconds(17'000);
      return transient_error();
    }
    return 1;
  });
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(clock.sleeps().size(), 1u);
  EXPECT_EQ(clock.sleeps()[0], milliseconds(17'000));
}

TEST(NetRetry, RetryAfterBeyondLimitGivesUp) {
  FakeClock clock;
  RetryPolicy p = no_jitter_policy();
  p.max_retry_after = milliseconds(60'000);
  auto r = with_retry(p, clock, [&](Attempt& a) -> Result<int> {
    a.retry_after = milliseconds(3'600'000);
    return transient_error();
  });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(clock.sleeps().empty());
  EXPECT_NE(r.error().message.find("retry after"), std::string::npos);
}

TEST(NetRetry, ElapsedBudgetStopsRetrying) {
  FakeClock clock;
  RetryPolicy p = no_jitter_policy();
  p.max_attempts = 100;
  p.max_elapsed = milliseconds(10'000);
  int calls = 0;
  auto r = with_retry(p, clock, [&]() -> Result<int> {
    ++calls;
    clock.advance(milliseconds(500));  // each attempt takes time too
    return transient_error();
  });
  ASSERT_FALSE(r.ok());
  // 0.5 +1 +0.5 +2 +0.5 +4 +0.5 = 9s; the next 5s sleep would pass 10s.
  EXPECT_EQ(calls, 4);
  EXPECT_LE(clock.now().time_since_epoch(), milliseconds(10'000));
}

TEST(NetRetry, ParsesRetryAfterForms) {
  const int64_t now = 1445412480;  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(parse_retry_after("120", now), milliseconds(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), milliseconds(30'000));
  EXPECT_EQ(parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now), milliseconds(60'000));
  EXPECT_EQ(parse_retry_after("Wed Oct 21 07:28:05 2015", now), milliseconds(5'000));
  EXPECT_EQ(parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now), milliseconds(0));  // past
  EXPECT_FALSE(parse_retry_after("soon", now).has_value());
  EXPECT_FALSE(parse_retry_after("-5", now).has_value());
  EXPECT_FALSE(parse_retry_after("", now).has_value());
  // Absurd values are clamped, not overflowed.
  auto huge = parse_retry_after("99999999999999999999", now);
  ASSERT_TRUE(huge.has_value());
  EXPECT_GT(*huge, milliseconds(0));
}

TEST(NetRetry, PerformWithRetryHonoursStatusAndRetryAfterHeader) {
  FakeClock clock;
  FakeTransport t;
  const std::string url = "http://hub.test/api/x";
  t.add(Method::get, url, 503, {});
  t.add(Method::get, url, 429, {{"Retry-After", "9"}});
  t.add(Method::get, url, 200, {}, "ok");
  Request req;
  req.url = url;
  auto r = perform_with_retry(t, req, no_jitter_policy(), clock);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(t.request_count(), 3u);
  std::vector<milliseconds> expected = {milliseconds(1000), milliseconds(9000)};
  EXPECT_EQ(clock.sleeps(), expected);
}

TEST(NetRetry, PerformWithRetryReturnsNonTransientResponses) {
  FakeClock clock;
  FakeTransport t;
  t.add(Method::get, "http://hub.test/a", 404, {}, "missing");
  t.add_error(Method::get, "http://hub.test/b", transient_error());
  Request req;
  req.url = "http://hub.test/a";
  auto r = perform_with_retry(t, req, no_jitter_policy(), clock);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(t.request_count(), 1u);

  req.url = "http://hub.test/b";
  auto e = perform_with_retry(t, req, no_jitter_policy(), clock);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().category, ErrorCategory::transient);
  EXPECT_EQ(t.request_count(), 1u + 5u);
}

TEST(NetRetry, ExhaustedTransientStatusBecomesError) {
  FakeClock clock;
  FakeTransport t;
  t.add(Method::get, "http://hub.test/a", 502, {});
  Request req;
  req.url = "http://hub.test/a";
  auto r = perform_with_retry(t, req, no_jitter_policy(), clock);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().category, ErrorCategory::transient);
  EXPECT_NE(r.error().message.find("502"), std::string::npos);
}

}  // namespace
}  // namespace mb::net
