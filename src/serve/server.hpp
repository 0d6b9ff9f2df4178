// `modelbake serve`: a read-only Hugging Face hub mirror of a cache, on libmicrohttpd
// (docs/serve.md, docs/ARCHITECTURE.md). The daemon runs a pool of epoll threads; file bodies
// go out with sendfile from the verified blob's descriptor.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/hub_setup.hpp"
#include "serve/access.hpp"
#include "serve/catalog.hpp"
#include "serve/handler.hpp"
#include "serve/metrics.hpp"

struct MHD_Daemon;

namespace mb::serve {

struct ServeOptions {
  std::string cache;  // cache root
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> allow;   // repo patterns; empty = all
  std::vector<std::string> tokens;  // accepted bearer tokens; empty = no authentication
  bool json_log = false;            // access log as JSON lines
  unsigned threads = 0;             // 0: max(2, hardware threads)
  size_t page_size = 1000;          // tree API page size
  unsigned idle_timeout = 60;       // seconds a connection may stay silent
  // Seconds from accept to a request's complete headers, however slowly bytes keep coming
  // (slowloris); between keep-alive requests the budget is idle_timeout.
  unsigned header_timeout = 10;
  unsigned max_connections = 4096;
  unsigned max_connections_per_client = 64;  // per client IP address
  bool serve_gated_anonymously = false;      // gated/private repos to clients without a token
  std::string public_url;                    // base of absolute URLs (Link) when set
  std::vector<std::string> trusted_proxies;  // IPs whose X-Forwarded-Proto/Host/Prefix count
  std::string upstream;                      // pull-through hub URL; empty = serve the cache only
  fetch::HubSettings hub;  // how fetch would talk to the hub (retries, timeouts, user agent)
  // serve --from: pulls the registries' bundles into the cache (the CLI's `pull`); empty = none.
  std::function<Status()> registry_pull;
  const Env* env = nullptr;  // where the upstream token comes from (HF_TOKEN, ...)
};

struct ListenAddress {
  std::string host;  // as printed in the URL ("127.0.0.1", "[::1]")
  bool ipv6 = false;
  std::string ip;  // numeric, without brackets
  uint16_t port = 0;
};
// "HOST:PORT" with HOST an IPv4 literal, "[IPv6]" or "localhost" (127.0.0.1). Usage error.
Result<ListenAddress> parse_listen(const std::string& text);

class Server {
 public:
  static Result<std::unique_ptr<Server>> start(ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // "http://HOST:PORT" with the bound port (useful with port 0).
  std::string url() const;
  // Stops accepting, lets in-flight requests finish for up to `grace_ms`, then closes every
  // connection (a cut transfer is short of its Content-Length: clients see a failure).
  void stop(unsigned grace_ms);
  // Upstream downloads still running (pull-through). Their temps are resumable.
  size_t upstream_jobs() const;

  // Called from the daemon's threads (libmicrohttpd callbacks).
  struct Internals;

 private:
  explicit Server(ServeOptions options);
  std::unique_ptr<Internals> m_in;
};

}  // namespace mb::serve
