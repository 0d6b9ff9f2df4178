#include "net/retry.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "net/rate_limit.hpp"

namespace mb::net {
namespace {

using Duration = Clock::Duration;

uint64_t initial_seed(const RetryPolicy& policy) {
  if (policy.seed) return *policy.seed;
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// HTTP-date in any of the three RFC 9110 forms -> unix seconds.
std::optional<int64_t> parse_http_date(std::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : text) {
    if (c == ' ' || c == ',' || c == '-') {
      if (!cur.empty()) tokens.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) tokens.push_back(cur);
  static const std::array<const char*, 12> k_months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                       "jul", "aug", "sep", "oct", "nov", "dec"};
  int month = 0;
  std::vector<std::string> numbers;
  std::string time;
  for (const auto& t : tokens) {
    std::string l = t;
    for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = std::find(k_months.begin(), k_months.end(), l);
    if (it != k_months.end()) {
      month = static_cast<int>(it - k_months.begin()) + 1;
    } else if (t.find(':') != std::string::npos) {
      time = t;
    } else if (all_digits(t)) {
      numbers.push_back(t);
    }
  }
  if (month == 0 || numbers.size() != 2 || time.size() != 8 || numbers[0].size() > 2) {
    return std::nullopt;
  }
  if (!all_digits(time.substr(0, 2)) || !all_digits(time.substr(3, 2)) ||
      !all_digits(time.substr(6, 2)) || time[2] != ':' || time[5] != ':') {
    return std::nullopt;
  }
  int day = std::stoi(numbers[0]);
  if (numbers[1].size() != 2 && numbers[1].size() != 4) return std::nullopt;
  int year = std::stoi(numbers[1]);
  if (numbers[1].size() == 2) year += year < 70 ? 2000 : 1900;
  int hh = std::stoi(time.substr(0, 2)), mm = std::stoi(time.substr(3, 2)),
      ss = std::stoi(time.substr(6, 2));
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hh * 3600 + mm * 60 + ss;
}

std::string seconds_text(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

Backoff::Backoff(const RetryPolicy& policy) : m_policy(policy), m_rng(initial_seed(policy)) {}

Duration Backoff::nominal(int retry) const {
  double ms = static_cast<double>(m_policy.initial_delay.count()) *
              std::pow(m_policy.multiplier, static_cast<double>(std::max(retry, 0)));
  double cap = static_cast<double>(m_policy.max_delay.count());
  return Duration(static_cast<int64_t>(std::min(ms, cap)));
}

Duration Backoff::next() {
  Duration nom = nominal(m_retry++);
  double jitter = std::clamp(m_policy.jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  double factor = 1.0 - jitter * dist(m_rng);
  return Duration(static_cast<int64_t>(std::llround(static_cast<double>(nom.count()) * factor)));
}

std::optional<Duration> parse_retry_after(std::string_view value, int64_t now_unix) {
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
    value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
    value.remove_suffix(1);
  constexpr int64_t k_max_seconds = 366LL * 86400;  // clamp absurd values instead of overflowing
  if (all_digits(value)) {
    if (value.size() > 9) return Duration(k_max_seconds * 1000);
    return Duration(std::min<int64_t>(std::stoll(std::string(value)), k_max_seconds) * 1000);
  }
  auto when = parse_http_date(value);
  if (!when) return std::nullopt;
  int64_t delta = std::clamp<int64_t>(*when - now_unix, 0, k_max_seconds);
  return Duration(delta * 1000);
}

std::optional<Duration> retry_after_of(const Response& response, const Clock& clock) {
  return server_wait(response, clock);
}

RetryLoop::RetryLoop(const RetryPolicy& policy, Clock& clock)
    : m_policy(policy), m_clock(clock), m_backoff(policy), m_start(clock.now()) {}

bool RetryLoop::retry_after_failure(const Error& error, Attempt& attempt) {
  if (error.category != ErrorCategory::transient) return false;
  if (attempt.number >= m_policy.max_attempts) return false;
  Duration delay = m_backoff.next();
  bool server_asked = false;
  if (attempt.retry_after) {
    if (*attempt.retry_after > m_policy.max_retry_after) return false;
    server_asked = *attempt.retry_after >= delay;
    delay = std::max(delay, *attempt.retry_after);
  }
  auto elapsed = std::chrono::duration_cast<Duration>(m_clock.now() - m_start);
  if (elapsed + delay > m_policy.max_elapsed) return false;
  // A wait the server asked for (rate limit) can be minutes: say so, so nobody thinks we hang.
  log::warn(error.message +
            (server_asked ? "; waiting " + seconds_text(delay) + " as the server asked"
                          : "; retrying in " + seconds_text(delay)) +
            " (attempt " + std::to_string(attempt.number + 1) + " of " +
            std::to_string(m_policy.max_attempts) + ")");
  m_clock.sleep_for(delay);
  ++attempt.number;
  return true;
}

Error RetryLoop::give_up(Error error, const Attempt& attempt) const {
  if (error.category != ErrorCategory::transient) return error;
  if (attempt.retry_after && *attempt.retry_after > m_policy.max_retry_after) {
    error.message += " (server asked to retry after " + seconds_text(*attempt.retry_after) +
                     ", longer than the " + seconds_text(m_policy.max_retry_after) +
                     " modelbake waits at most)";
  } else if (attempt.number > 1) {
    error.message += " (gave up after " + std::to_string(attempt.number) + " attempts)";
  }
  if (error.hint.empty()) error.hint = "check the network and the server, then run again";
  return error;
}

Result<Response> perform_with_retry(Transport& transport, const Request& request,
                                    const RetryPolicy& policy, Clock& clock, BodySink* sink) {
  return with_retry(policy, clock, [&](Attempt& attempt) -> Result<Response> {
    auto result = transport.perform(request, sink);
    if (!result.ok()) return result;
    const Response& r = *result;
    if (!r.is_success() && category_for_status(r.status) == ErrorCategory::transient) {
      attempt.retry_after = retry_after_of(r, clock);
      return status_error(r, std::string(to_string(request.method)) + " request");
    }
    return result;
  });
}

}  // namespace mb::net
