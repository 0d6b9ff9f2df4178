// A total time limit for modelbake-verify (--timeout): a health check on a hung filesystem
// (NFS, a lazily pulled image) must end. A read blocked in the kernel cannot be cancelled
// from inside the process, so the watchdog thread ends the whole process with _exit(1)
// instead. That works for every interruptible or killable wait (FIFOs, sockets, NFS hard
// mounts, FUSE); a read stuck in an uninterruptible wait ends when the kernel lets it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace mb::runtime {

// "250ms", "10s", "2m", "1h" or a bare number of seconds; nullopt for anything else, for 0
// and for more than a day.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

class Watchdog {
 public:
  // Writes `message` to stderr and calls _exit(exit_code) unless destroyed within `limit`.
  Watchdog(std::chrono::milliseconds limit, std::string message, int exit_code);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_done = false;
  std::thread m_thread;
};

}  // namespace mb::runtime
