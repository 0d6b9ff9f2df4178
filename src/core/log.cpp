#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <vector>

namespace mb::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;
std::atomic<uint64_t> g_lines{0};
std::vector<std::string> g_secrets;  // guarded by g_mutex

const char* prefix(Level l) {
  switch (l) {
    case Level::debug: return "debug: ";
    case Level::info: return "";
    case Level::warn: return "warning: ";
    case Level::error: return "error: ";
    case Level::off: return "";
  }
  return "";
}

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

std::string redact_locked(std::string_view text) {
  std::string out(text);
  for (const auto& s : g_secrets) mask(out, s);
  return out;
}
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }
Level level() { return static_cast<Level>(g_level.load()); }
bool enabled(Level l) { return static_cast<int>(l) >= g_level.load(); }

void add_secret(std::string secret) {
  if (secret.empty()) return;
  std::lock_guard lock(g_mutex);
  g_secrets.push_back(std::move(secret));
}

std::string redact(std::string_view text) {
  std::lock_guard lock(g_mutex);
  return redact_locked(text);
}

void write(Level l, std::string_view message) {
  std::lock_guard lock(g_mutex);
  std::string line = std::string("modelbake: ") + prefix(l) + redact_locked(message) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  g_lines.fetch_add(1, std::memory_order_relaxed);
}

uint64_t lines_written() { return g_lines.load(std::memory_order_relaxed); }

}  // namespace mb::log
