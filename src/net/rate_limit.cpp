#include "net/rate_limit.hpp"

#include <cctype>
#include <string_view>

#include "net/retry.hpp"

namespace mb::net {
namespace {

class Scanner {
 public:
  explicit Scanner(std::string_view s) : m_s(s) {}
  void spaces() {
    while (m_pos < m_s.size() && (m_s[m_pos] == ' ' || m_s[m_pos] == '\t')) ++m_pos;
  }
  bool literal(char c) {
    spaces();
    if (m_pos < m_s.size() && m_s[m_pos] == c) {
      ++m_pos;
      return true;
    }
    return false;
  }
  // Digits, clamped; nullopt when there is no digit.
  std::optional<uint64_t> number() {
    spaces();
    size_t start = m_pos;
    uint64_t v = 0;
    while (m_pos < m_s.size() && std::isdigit(static_cast<unsigned char>(m_s[m_pos]))) {
      v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(m_s[m_pos] - '0'),
                             k_max_rate_limit_seconds);
      ++m_pos;
    }
    if (m_pos == start) return std::nullopt;
    return v;
  }
  // `"word"` with word = [A-Za-z0-9_]{1,64}.
  std::optional<std::string> quoted_word() {
    if (!literal('"')) return std::nullopt;
    size_t start = m_pos;
    while (m_pos < m_s.size() &&
           (std::isalnum(static_cast<unsigned char>(m_s[m_pos])) || m_s[m_pos] == '_')) {
      ++m_pos;
    }
    size_t len = m_pos - start;
    if (len == 0 || len > 64 || !literal('"')) return std::nullopt;
    return std::string(m_s.substr(start, len));
  }
  // `key=number` after a ';'.
  std::optional<uint64_t> param(char key) {
    if (!literal(';') || !literal(key) || !literal('=')) return std::nullopt;
    return number();
  }
  size_t pos() const { return m_pos; }
  void seek(size_t p) { m_pos = p; }
  bool done() const { return m_pos >= m_s.size(); }

 private:
  std::string_view m_s;
  size_t m_pos = 0;
};

// `"bucket";r=N;t=N` anywhere in the value (huggingface_hub uses re.search).
std::optional<RateLimit> parse_value(std::string_view value) {
  if (value.size() > 1024) return std::nullopt;
  for (size_t start = value.find('"'); start != std::string_view::npos;
       start = value.find('"', start + 1)) {
    Scanner s(value);
    s.seek(start);
    auto bucket = s.quoted_word();
    if (!bucket) continue;
    auto r = s.param('r');
    auto t = r ? s.param('t') : std::nullopt;
    if (!t) continue;
    RateLimit limit;
    limit.bucket = *bucket;
    limit.remaining = *r;
    limit.reset_seconds = *t;
    return limit;
  }
  return std::nullopt;
}

// q=N ... w=N of RateLimit-Policy.
void parse_policy(std::string_view value, RateLimit& limit) {
  if (value.size() > 1024) return;
  size_t q = value.find("q=");
  if (q == std::string_view::npos) return;
  size_t w = value.find("w=", q);
  if (w == std::string_view::npos) return;
  Scanner sq(value.substr(q + 2)), sw(value.substr(w + 2));
  auto quota = sq.number();
  auto window = sw.number();
  if (quota && window) {
    limit.quota = quota;
    limit.window_seconds = window;
  }
}

}  // namespace

std::optional<RateLimit> parse_rate_limit(const Headers& headers) {
  auto value = headers.get("RateLimit");
  if (!value) return std::nullopt;
  auto limit = parse_value(*value);
  if (!limit) return std::nullopt;
  if (auto policy = headers.get("RateLimit-Policy")) parse_policy(*policy, *limit);
  return limit;
}

std::string describe(const RateLimit& limit) {
  std::string out = "\"" + limit.bucket + "\" limit";
  if (limit.quota && limit.window_seconds) {
    out += ", " + std::to_string(*limit.quota) + " requests per " +
           std::to_string(*limit.window_seconds) + " s";
  }
  return out;
}

std::optional<Clock::Duration> server_wait(const Response& response, const Clock& clock) {
  if (response.status == 429) {
    if (auto limit = parse_rate_limit(response.headers); limit && limit->remaining == 0) {
      return std::chrono::seconds(limit->reset_seconds + 1);
    }
  }
  auto v = response.headers.get("Retry-After");
  if (!v) return std::nullopt;
  return parse_retry_after(*v, clock.unix_seconds());
}

}  // namespace mb::net
