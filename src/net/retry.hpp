// Retry with exponential backoff, jitter and Retry-After. Only errors whose category is
// `transient` are retried; permanent/auth/integrity/usage/io/cancelled return at once.
// Time comes from an injected Clock so tests run instantly with FakeClock.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <type_traits>
#include <utility>

#include "core/env.hpp"
#include "core/error.hpp"
#include "net/transport.hpp"

namespace mb::net {

struct RetryPolicy {
  using Duration = Clock::Duration;
  int max_attempts = 6;           // total tries, including the first
  Duration initial_delay{1'000};  // nominal delay before the first retry
  double multiplier = 2.0;        // nominal delay grows by this per retry ...
  Duration max_delay{30'000};     // ... up to this cap
  double jitter = 0.25;           // actual delay uniform in [nominal*(1-jitter), nominal]
  // Give up rather than sleep past this since the start. Long enough for two waits of the
  // Hub's 5-minute rate-limit window plus backoff.
  Duration max_elapsed{1'200'000};
  // A server asking to wait longer than this (Retry-After, RateLimit t + 1 s): give up at once
  // with its reason instead of sleeping. Covers one full Hub window (300 s) with margin.
  Duration max_retry_after{600'000};
  std::optional<uint64_t> seed;  // fixed jitter seed (tests); nullopt = random_device

  // One attempt, no retries.
  static RetryPolicy none() {
    RetryPolicy p;
    p.max_attempts = 1;
    return p;
  }
};

// State of the current attempt, passed to the function under retry. The function may set
// retry_after (e.g. from a 429's Retry-After header) before returning a transient error.
struct Attempt {
  int number = 1;  // 1-based
  std::optional<Clock::Duration> retry_after;
};

// Produces the jittered delays of one retry sequence.
class Backoff {
 public:
  explicit Backoff(const RetryPolicy& policy);
  // Un-jittered delay before retry number `retry` (0 = first retry): min(cap, initial*mult^retry).
  Clock::Duration nominal(int retry) const;
  // Jittered delay for the next retry (advances the sequence).
  Clock::Duration next();

 private:
  RetryPolicy m_policy;
  std::mt19937_64 m_rng;
  int m_retry = 0;
};

// Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2015 07:28:00 GMT", also RFC 850 and asctime forms), relative to
// `now_unix`. A date in the past yields 0. Garbage yields nullopt.
std::optional<Clock::Duration> parse_retry_after(std::string_view value, int64_t now_unix);

// How long the server asks us to wait (only meaningful for 429/503): RateLimit t + 1 s for a
// 429 with r=0 (net/rate_limit.hpp), else Retry-After via parse_retry_after.
std::optional<Clock::Duration> retry_after_of(const Response& response, const Clock& clock);

// The decision loop shared by with_retry and perform_with_retry.
class RetryLoop {
 public:
  RetryLoop(const RetryPolicy& policy, Clock& clock);
  // After a failed attempt: if `error` is transient and the budget allows, logs, sleeps the
  // backoff delay (at least attempt.retry_after), advances `attempt` and returns true.
  // Otherwise returns false and the caller returns give_up(error).
  bool retry_after_failure(const Error& error, Attempt& attempt);
  // The error to report: unchanged for non-transient errors, otherwise annotated with the
  // number of attempts made and a hint.
  Error give_up(Error error, const Attempt& attempt) const;

 private:
  RetryPolicy m_policy;
  Clock& m_clock;
  Backoff m_backoff;
  Clock::TimePoint m_start;
};

// Calls fn until it succeeds, fails non-transiently, or the policy is exhausted; returns the
// last result. fn is `Result<T>(Attempt&)` or `Result<T>()`.
template <class Fn>
auto with_retry(const RetryPolicy& policy, Clock& clock, Fn&& fn) {
  RetryLoop loop(policy, clock);
  Attempt attempt;
  for (;;) {
    attempt.retry_after.reset();
    auto result = [&] {
      if constexpr (std::is_invocable_v<Fn&, Attempt&>) {
        return fn(attempt);
      } else {
        return fn();
      }
    }();
    if (result.ok()) return result;
    if (!loop.retry_after_failure(result.error(), attempt)) {
      Error e = loop.give_up(result.take_error(), attempt);
      return decltype(result)(std::move(e));
    }
  }
}

// perform() under retry: transport errors and transient statuses (408/425/429/5xx, with
// Retry-After honoured) are retried. Returns the Response for every non-transient status
// (2xx, 3xx, 4xx) so the caller can map it; a transient status still failing after the
// last attempt becomes status_error(). With a sink, on_response() marks the start of each
// attempt: the sink must restart there (or use its own resume logic and no retry here).
Result<Response> perform_with_retry(Transport& transport, const Request& request,
                                    const RetryPolicy& policy, Clock& clock,
                                    BodySink* sink = nullptr);

}  // namespace mb::net
