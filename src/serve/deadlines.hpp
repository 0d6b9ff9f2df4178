// Hard deadlines for request headers (slowloris). A client that drips a header byte every few
// seconds resets any idle timer, so each connection also gets a deadline that bytes do not
// move: its request's headers must be complete `header` after accept, or `keep_alive` after
// its previous response. A timer thread shuts down (shutdown(2)) the socket of a connection
// past its deadline; libmicrohttpd then reads EOF and closes it on its own thread.
//
// libmicrohttpd reports a connection closed (closed()) before it closes the socket, and
// closed() takes the same mutex as the timer, so the timer never shuts down a descriptor
// that already belongs to another connection.
//
// The same timer wakes streams that wait for a download's bytes (wake_at): a suspended
// connection is never timed out by libmicrohttpd, so the timer resumes it and the stream's
// reader decides whether it waited too long.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace mb::serve {

class Deadlines {
 public:
  using Clock = std::chrono::steady_clock;
  // `wake` resumes a connection given to wake_at (called on the timer thread).
  Deadlines(std::chrono::seconds header, std::chrono::seconds keep_alive,
            std::function<void(const void* conn)> wake = nullptr);
  ~Deadlines();
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  void opened(const void* conn, int fd);  // accepted: headers due within `header`
  void headers_in(const void* conn);      // a request is being handled: no deadline
  void request_done(const void* conn);    // the next headers are due within `keep_alive`
  void closed(const void* conn);
  // Calls `wake(conn)` once, at `when` (a later call for the same connection replaces it).
  void wake_at(const void* conn, Clock::time_point when);
  uint64_t cut() const { return m_cut.load(); }  // connections closed for a late header

 private:
  struct Conn {
    int fd = -1;
    Clock::time_point due = Clock::time_point::max();
  };
  void run();

  std::chrono::seconds m_header, m_keep_alive;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  bool m_stop = false;
  std::unordered_map<const void*, Conn> m_conns;
  std::function<void(const void*)> m_wake_fn;
  std::unordered_map<const void*, Clock::time_point> m_wakes;
  std::atomic<uint64_t> m_cut{0};
  std::thread m_timer;
};

}  // namespace mb::serve
