#include "serve/deadlines.hpp"

#include <sys/socket.h>

#include <vector>

namespace mb::serve {

Deadlines::Deadlines(std::chrono::seconds header, std::chrono::seconds keep_alive,
                     std::function<void(const void*)> wake)
    : m_header(header),
      m_keep_alive(keep_alive),
      m_wake_fn(std::move(wake)),
      m_timer([this] { run(); }) {}

Deadlines::~Deadlines() {
  {
    std::lock_guard<std::mutex> g(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_timer.join();
}

void Deadlines::opened(const void* conn, int fd) {
  std::lock_guard<std::mutex> g(m_mutex);
  m_conns[conn] = Conn{fd, Clock::now() + m_header};
}

void Deadlines::headers_in(const void* conn) {
  std::lock_guard<std::mutex> g(m_mutex);
  if (auto it = m_conns.find(conn); it != m_conns.end()) it->second.due = Clock::time_point::max();
}

void Deadlines::request_done(const void* conn) {
  std::lock_guard<std::mutex> g(m_mutex);
  if (auto it = m_conns.find(conn); it != m_conns.end())
    it->second.due = Clock::now() + m_keep_alive;
}

void Deadlines::closed(const void* conn) {
  std::lock_guard<std::mutex> g(m_mutex);
  m_conns.erase(conn);
  m_wakes.erase(conn);
}

void Deadlines::wake_at(const void* conn, Clock::time_point when) {
  std::lock_guard<std::mutex> g(m_mutex);
  m_wakes[conn] = when;
}

void Deadlines::run() {
  std::unique_lock<std::mutex> lock(m_mutex);
  while (!m_stop) {
    // Half a second of slack on a deadline of seconds; a scan of a few thousand entries.
    m_wake.wait_for(lock, std::chrono::milliseconds(500));
    auto now = Clock::now();
    for (auto& [conn, c] : m_conns) {
      if (c.fd < 0 || c.due > now) continue;
      ::shutdown(c.fd, SHUT_RDWR);
      c.fd = -1;  // once is enough; closed() removes the entry
      ++m_cut;
    }
    std::vector<const void*> due;
    for (auto it = m_wakes.begin(); it != m_wakes.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      due.push_back(it->first);
      it = m_wakes.erase(it);
    }
    if (due.empty() || !m_wake_fn) continue;
    // Outside our lock: waking takes the server's lock (which never waits for ours).
    lock.unlock();
    for (const void* conn : due) m_wake_fn(conn);
    lock.lock();
  }
}

}  // namespace mb::serve
