#include "runtime/watchdog.hpp"

#include <unistd.h>

#include <cstdint>

namespace mb::runtime {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < text.size() && digits < 9 && text[digits] >= '0' && text[digits] <= '9') {
    value = value * 10 + static_cast<uint64_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  uint64_t ms_per_unit = 0;
  if (unit.empty() || unit == "s") {
    ms_per_unit = 1000;
  } else if (unit == "ms") {
    ms_per_unit = 1;
  } else if (unit == "m") {
    ms_per_unit = 60'000;
  } else if (unit == "h") {
    ms_per_unit = 3'600'000;
  } else {
    return std::nullopt;
  }
  const uint64_t ms = value * ms_per_unit;  // < 10^9 * 3.6e6: no overflow
  if (ms == 0 || ms > 86'400'000) return std::nullopt;
  return std::chrono::milliseconds(ms);
}

Watchdog::Watchdog(std::chrono::milliseconds limit, std::string message, int exit_code) {
  m_thread = std::thread([this, limit, message = std::move(message), exit_code] {
    std::unique_lock lock(m_mutex);
    if (m_cv.wait_for(lock, limit, [this] { return m_done; })) return;
    // The main thread may be blocked in a read that nothing can cancel: end the process.
    // Only async-signal-safe calls from here on.
    ssize_t ignored = ::write(2, message.data(), message.size());
    (void)ignored;
    ::_exit(exit_code);
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(m_mutex);
    m_done = true;
  }
  m_cv.notify_all();
  if (m_thread.joinable()) m_thread.join();
}

}  // namespace mb::runtime
