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

std::string redact_locked(std::string_view text) {
  std::string out(text);
  for (const auto& s : g_secrets) {
    for (size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3)) {
      out.replace(pos, s.size(), "***");
    }
  }
  return out;
}
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }
Level level() { return static_cast<Level>(g_level.load()); }
bool enabled(Level l) { return static_cast<int>(l) >= g_level.load(); }

void add_secret(std::string secret) {
  if (secret.size() < 4) return;
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
