// The secret registry behind log::redact and the logging sink (core/log.hpp).
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/log.hpp"

namespace mb::log {

namespace {
std::shared_mutex g_mutex;
std::vector<std::string> g_secrets;  // guarded by g_mutex

bool word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// A secret of k_min_masked_anywhere characters or more is masked wherever it appears. A
// shorter one (a test hub's "abc", a short password) would also mask ordinary words, so it is
// masked where it stands alone: "Bearer ab", "token=ab&", "user:ab@host", not "about".
constexpr size_t k_min_masked_anywhere = 4;

void mask(std::string& out, const std::string& secret) {
  const bool anywhere = secret.size() >= k_min_masked_anywhere;
  for (size_t pos = out.find(secret); pos != std::string::npos;) {
    size_t end = pos + secret.size();
    bool alone =
        (pos == 0 || !word_char(out[pos - 1])) && (end == out.size() || !word_char(out[end]));
    if (anywhere || alone) {
      out.replace(pos, secret.size(), "***");
      pos = out.find(secret, pos + 3);
    } else {
      pos = out.find(secret, pos + 1);
    }
  }
}
}  // namespace

void add_secret(std::string secret) {
  if (secret.empty()) return;
  std::unique_lock lock(g_mutex);
  g_secrets.push_back(std::move(secret));
}

std::string redact(std::string_view text) {
  std::string out(text);
  std::shared_lock lock(g_mutex);
  for (const auto& s : g_secrets) mask(out, s);
  return out;
}

}  // namespace mb::log
