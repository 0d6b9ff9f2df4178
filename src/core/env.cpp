#include "core/env.hpp"

#include <cstdlib>
#include <thread>

namespace mb {

std::optional<std::string> ProcessEnv::get(const std::string& name) const {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::optional<std::string> MapEnv::get(const std::string& name) const {
  auto it = m_vars.find(name);
  if (it == m_vars.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

void SystemClock::sleep_for(Duration d) { std::this_thread::sleep_for(d); }

int64_t SystemClock::unix_seconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace mb
