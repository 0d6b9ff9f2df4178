#include "serve/metrics.hpp"

namespace mb::serve {

void Metrics::request_done(const std::string& route, int status, uint64_t body_bytes) {
  m_bytes += body_bytes;
  std::lock_guard<std::mutex> g(m_mutex);
  ++m_requests[{route, status}];
}

std::string Metrics::render(const std::string& extra) const {
  std::string out =
      "# HELP modelbake_serve_requests_total Requests answered, by route and status.\n"
      "# TYPE modelbake_serve_requests_total counter\n";
  {
    std::lock_guard<std::mutex> g(m_mutex);
    for (const auto& [key, n] : m_requests) {
      out += "modelbake_serve_requests_total{route=\"" + key.first + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  }
  out +=
      "# HELP modelbake_serve_bytes_sent_total Response body bytes of completed responses.\n"
      "# TYPE modelbake_serve_bytes_sent_total counter\n"
      "modelbake_serve_bytes_sent_total " +
      std::to_string(m_bytes.load()) +
      "\n"
      "# HELP modelbake_serve_connections Open client connections.\n"
      "# TYPE modelbake_serve_connections gauge\n"
      "modelbake_serve_connections " +
      std::to_string(m_connections.load()) +
      "\n"
      "# HELP modelbake_serve_cache_hits_total Pull-through file requests served from the cache.\n"
      "# TYPE modelbake_serve_cache_hits_total counter\n"
      "modelbake_serve_cache_hits_total " +
      std::to_string(m_hits.load()) +
      "\n"
      "# HELP modelbake_serve_cache_misses_total Pull-through file requests that waited for "
      "upstream.\n"
      "# TYPE modelbake_serve_cache_misses_total counter\n"
      "modelbake_serve_cache_misses_total " +
      std::to_string(m_misses.load()) + "\n";
  return out + extra;
}

}  // namespace mb::serve
