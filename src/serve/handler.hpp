// The hub protocol on top of the catalog: one request in, one reply out. No sockets and no
// HTTP library here (server.cpp adapts libmicrohttpd), so unit tests drive it directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/file.hpp"
#include "serve/access.hpp"
#include "serve/catalog.hpp"
#include "serve/metrics.hpp"
#include "serve/registry_fill.hpp"
#include "serve/route.hpp"
#include "serve/upstream.hpp"

namespace mb::serve {

struct Request {
  std::string method;         // "GET", "HEAD", "POST", ...
  std::string target;         // raw request target, query included
  std::string host;           // Host header ("" when absent)
  std::string range;          // Range header
  std::string authorization;  // Authorization header (never logged)
  std::string body;           // POST body
  // Below body: tests build Requests positionally up to it.
  std::string if_none_match;                                      // If-None-Match
  std::string if_range;                                           // If-Range
  std::string client_ip;                                          // peer address, numeric
  std::string forwarded_proto, forwarded_host, forwarded_prefix;  // X-Forwarded-*
  // The upstream job this request waited for: done, or a download whose bytes began to land.
  std::shared_ptr<Job> finished_job;
};

struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // when fd is not valid
  UniqueFd fd;       // file body: [offset, offset + length) of fd
  // Or a body read from an upstream download while it runs (a pull-through miss): the same
  // range, read through the cursor as the bytes land.
  std::shared_ptr<StreamCursor> stream;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string route = "unknown";  // for metrics and the access log
  // Set instead of an answer when the request must wait for an upstream download: the server
  // suspends the connection and asks again (with finished_job) once the job is done.
  std::shared_ptr<Job> wait;
  // Set with `wait` when the request waits for the download's first bytes, not its end: the
  // server wakes it at the next event of wait->live() after this version.
  std::optional<uint64_t> wait_version;

  uint64_t body_size() const { return fd.valid() || stream ? length : body.size(); }
  void header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

struct HandlerConfig {
  size_t page_size = 1000;    // tree entries per page (Link: rel="next" beyond)
  std::string fallback_host;  // for absolute Link URLs when the request has no usable Host
  std::string public_url;     // --public-url: base of absolute URLs (no trailing '/')
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-* headers count
  // Serve repos recorded (or found upstream) as gated or private to clients without a mirror
  // token too (--serve-gated-anonymously).
  bool serve_gated_anonymously = false;
};

class Handler {
 public:
  Handler(Catalog& catalog, const AccessPolicy& access, Metrics& metrics, HandlerConfig config,
          Upstream* upstream = nullptr, RegistryFill* fill = nullptr)
      : m_catalog(catalog),
        m_access(access),
        m_metrics(metrics),
        m_config(std::move(config)),
        m_upstream(upstream),
        m_fill(fill) {}

  Reply handle(const Request& req);

 private:
  Reply dispatch(const Request& req, const Route& route);
  Reply from_cache(const Request& req, const Route& route);
  Reply cache_answer(const Request& req, const Route& route);
  // A reply that waits for the registries (serve --from) to fill a miss; nullopt when there
  // are none, this request already waited, or they were asked a moment ago.
  std::optional<Reply> wait_for_registry(const Request& req);
  Reply pull_through(const Request& req, const Route& route);
  // A cached file that may be served without asking upstream.
  std::optional<Reply> cached_hit(const Request& req, const Route& route);
  Reply pull_file(const Request& req, const Route& route, const Listing& listing);
  // A miss whose download `job` runs: its bytes streamed once they land (big files), or the
  // file from the cache once the job is done.
  Reply stream_or_wait(const Request& req, const Route& route, const std::string& commit,
                       const Entry& entry, const std::shared_ptr<Job>& job);
  Reply after_download(const Request& req, const Route& route, const Job& job);
  Reply listing_reply(const Request& req, const Route& route, const std::string& commit,
                      const std::vector<Entry>& files, const std::string& access);
  Reply listing_body(const Request& req, const Route& route, const std::string& commit,
                     const std::vector<Entry>& files, const std::string& access);
  // Clients may read gated/private repos: they all have a mirror token, or the operator
  // said --serve-gated-anonymously.
  bool anonymous_ok() const;
  std::string recorded_access(const Route& route, const std::string& commit) const;
  static Reply gated_reply(const Route& route);
  Reply tree(const Request& req, const Route& route, const std::string& commit,
             const std::vector<Entry>& files);
  Reply resolve(const Request& req, const Route& route, const std::string& commit,
                OpenedFile& file);
  // resolve()'s headers and status (200, 206, 304, 416) for `e`, with the body's range in
  // r.offset / r.length; no body attached. Shared by cached files and streamed misses.
  Reply file_reply(const Request& req, const Route& route, const std::string& commit,
                   const Entry& e);
  Reply health() const;
  Reply metrics() const;
  std::string base_url(const Request& req) const;
  std::string cache_control(const Route& route, const std::string& commit) const;

  Catalog& m_catalog;
  const AccessPolicy& m_access;
  Metrics& m_metrics;
  HandlerConfig m_config;
  Upstream* m_upstream;
  RegistryFill* m_fill;
};

// {"error": message} with the hub's X-Error-Code / X-Error-Message headers.
Reply error_reply(int status, const std::string& code, const std::string& message);

}  // namespace mb::serve
