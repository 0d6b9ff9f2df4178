// Counters for /metrics (Prometheus text format 0.0.4). Thread-safe; cheap enough to update on
// every request.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace mb::serve {

class Metrics {
 public:
  void request_done(const std::string& route, int status, uint64_t body_bytes);
  void connection_opened() { ++m_connections; }
  void cache_hit() { ++m_hits; }     // pull-through: served from the cache
  void cache_miss() { ++m_misses; }  // pull-through: had to ask upstream
  void connection_closed() { --m_connections; }
  // `extra` is appended verbatim (gauges the caller owns, e.g. verification hashes).
  std::string render(const std::string& extra) const;

 private:
  mutable std::mutex m_mutex;
  std::map<std::pair<std::string, int>, uint64_t> m_requests;
  std::atomic<uint64_t> m_bytes{0};
  std::atomic<int64_t> m_connections{0};
  std::atomic<uint64_t> m_hits{0};
  std::atomic<uint64_t> m_misses{0};
};

}  // namespace mb::serve
