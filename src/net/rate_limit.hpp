// Rate-limit headers as the Hugging Face Hub sends them on a 429 (IETF draft
// draft-ietf-httpapi-ratelimit-headers, the subset huggingface_hub parses):
//   RateLimit: "api";r=0;t=55                      bucket, remaining requests, seconds to reset
//   RateLimit-Policy: "fixed window";"api";q=500;w=300   quota per window of w seconds
// Often there is no Retry-After: the reset time is only in RateLimit. The values come from the
// server, so parsing is strict and every number is clamped (no overflow, no huge sleeps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/env.hpp"
#include "net/transport.hpp"

namespace mb::net {

struct RateLimit {
  std::string bucket;                      // "api", "resolvers", ...: [A-Za-z0-9_]{1,64}
  uint64_t remaining = 0;                  // r
  uint64_t reset_seconds = 0;              // t, clamped to k_max_rate_limit_seconds
  std::optional<uint64_t> quota;           // q of RateLimit-Policy
  std::optional<uint64_t> window_seconds;  // w of RateLimit-Policy
};

// Larger numbers are clamped to this (a year): callers compare against their own cap.
inline constexpr uint64_t k_max_rate_limit_seconds = 366ull * 86400;

// Parses the RateLimit / RateLimit-Policy headers of a response; nullopt when RateLimit is
// absent or does not contain `"bucket";r=N;t=N` (as huggingface_hub's regex).
std::optional<RateLimit> parse_rate_limit(const Headers& headers);

// "\"api\" limit, 500 requests per 300 s" (for messages); quota/window only when known.
std::string describe(const RateLimit& limit);

// How long a 429/503 asks us to wait before the next request, as huggingface_hub decides:
// a 429 whose RateLimit says r=0 waits t + 1 s (the +1 absorbs rounding at the window edge);
// otherwise Retry-After (delta seconds or HTTP-date) when present. nullopt: use the backoff.
// The status is not checked beyond the 429 rule: callers ask only for transient statuses.
std::optional<Clock::Duration> server_wait(const Response& response, const Clock& clock);

}  // namespace mb::net
