// Transport on libcurl's multi interface. One event-loop thread drives every transfer with
// curl_multi_poll; perform() hands an easy handle to that thread and waits for it, so many
// worker threads share one connection cache (keep-alive, TLS session reuse) and the number
// of connections per host is bounded by the multi.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "net/transport.hpp"

namespace mb::net {

struct CurlOptions {
  long max_host_connections = 16;    // CURLMOPT_MAX_HOST_CONNECTIONS
  long max_total_connections = 64;   // CURLMOPT_MAX_TOTAL_CONNECTIONS
  long max_cached_connections = 64;  // CURLMOPT_MAXCONNECTS
  long buffer_size = 512 * 1024;     // CURLOPT_BUFFERSIZE: fewer, larger writes to sinks
  // Sent on every request. net may not depend on app/, so the CLI passes
  // "modelbake/" + mb::version() here.
  std::string user_agent = "modelbake";
  bool verbose = false;  // CURLOPT_VERBOSE (to stderr), for debugging only
};

struct CurlStats {
  uint64_t transfers = 0;        // completed perform() calls that reached curl
  uint64_t new_connections = 0;  // sum of CURLINFO_NUM_CONNECTS: 0 per reused connection
};

class CurlTransport final : public Transport {
 public:
  // Fails (io) if libcurl cannot be initialised or the event thread cannot start.
  static Result<std::unique_ptr<CurlTransport>> create(CurlOptions options = {});
  // Stops the event thread. Destroy only after every perform() call has returned.
  ~CurlTransport() override;

  Result<Response> perform(const Request& request, BodySink* sink = nullptr) override;
  CurlStats stats() const;

  struct Impl;

 private:
  explicit CurlTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

}  // namespace mb::net
