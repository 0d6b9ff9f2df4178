#include "serve/deadlines.hpp"

#include <sys/socket.h>

namespace mb::serve {

Deadlines::Deadlines(std::chrono::seconds header, std::chrono::seconds keep_alive)
    : m_header(header), m_keep_alive(keep_alive), m_timer([this] { run(); }) {}

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
  }
}

}  // namespace mb::serve
