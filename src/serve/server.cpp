#include "serve/server.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "core/log.hpp"
#include "serve/deadlines.hpp"

namespace mb::serve {

namespace {

constexpr size_t k_max_body = 1 << 20;  // paths-info bodies

using Clock = std::chrono::steady_clock;

// Per-request state, from the first handler call to the completion callback.
struct RequestCtx {
  Clock::time_point start = Clock::now();
  std::string target;  // raw, as received
  std::string method;
  std::string body;
  bool body_too_big = false;
  int status = 0;
  uint64_t body_bytes = 0;
  std::shared_ptr<Job> job;  // the upstream download this request waits (or waited) for
  std::string route = "unknown";
};

std::string header(MHD_Connection* c, const char* name) {
  const char* v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  return v ? v : "";
}

std::string client_address(MHD_Connection* c) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!info || !info->client_addr) return "-";
  char buf[INET6_ADDRSTRLEN] = "-";
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

// Suspended connections and the one way to resume them. Shared with the callbacks that
// upstream jobs and live downloads run on their threads, which may outlive the server's
// other members.
struct Wakers {
  std::mutex mutex;                     // guards suspended and stopped
  std::set<MHD_Connection*> suspended;  // waiting for an upstream job or a download's bytes
  bool stopped = false;

  // Suspends `c` (from a libmicrohttpd callback on its thread); false once stopping.
  bool suspend(MHD_Connection* c) {
    std::lock_guard<std::mutex> g(mutex);
    if (stopped) return false;
    MHD_suspend_connection(c);
    suspended.insert(c);
    return true;
  }
  // Resumes `c` if it is suspended (once: later calls for the same wait do nothing).
  void resume(MHD_Connection* c) {
    std::lock_guard<std::mutex> g(mutex);
    if (suspended.erase(c) != 0) MHD_resume_connection(c);
  }
  bool is_stopped() {
    std::lock_guard<std::mutex> g(mutex);
    return stopped;
  }
};

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

struct Server::Internals {
  ServeOptions options;
  ListenAddress address;
  Catalog catalog;
  AccessPolicy access;
  Metrics metrics;
  std::unique_ptr<Upstream> upstream;
  std::unique_ptr<RegistryFill> fill;
  std::unique_ptr<Handler> handler;
  std::unique_ptr<Deadlines> deadlines;  // outlives the daemon (declared before it is stopped)
  MHD_Daemon* daemon = nullptr;
  std::shared_ptr<Wakers> wakers = std::make_shared<Wakers>();
  uint16_t port = 0;
  std::atomic<int> in_flight{0};

  explicit Internals(ServeOptions o) : options(std::move(o)), catalog(CacheLayout(options.cache)) {}

  void access_log(MHD_Connection* c, const RequestCtx& ctx, bool completed) const;
};

namespace {

MHD_Result add_arg(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* query = static_cast<std::string*>(cls);
  *query +=
      (query->empty() ? "?" : "&") + std::string(key) + (value ? "=" + std::string(value) : "");
  return MHD_YES;
}

// The raw target: the path as received (unescaping is off) and the query rebuilt from the
// arguments libmicrohttpd split off (still percent-encoded, for the same reason).
std::string raw_target(MHD_Connection* c, const char* url) {
  std::string query;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, &add_arg, &query);
  return std::string(url ? url : "") + query;
}

// Identity: the route parser decodes each path segment itself (so %2F stays inside one).
size_t no_unescape(void*, MHD_Connection*, char* s) { return std::strlen(s); }

// A body read from a download in progress (docs/serve.md "Streaming a miss"). When no byte is
// there yet, the connection is suspended (libmicrohttpd allows it from a content reader) and
// resumed by the download's next event: a waiting client holds no server thread, and
// returning 0 without suspending would make the epoll thread spin.
// A stream that got no byte for `stall` (--idle-timeout) is cut, as an idle connection would
// be closed: the deadlines timer resumes it then (libmicrohttpd never times out a suspended
// connection), and the reader finds it has waited long enough.
struct StreamReader {
  std::shared_ptr<StreamCursor> cursor;
  std::shared_ptr<Wakers> wakers;
  Deadlines* deadlines;
  MHD_Connection* connection;
  uint64_t offset;  // of the response's first byte in the file
  std::chrono::seconds stall;
  Clock::time_point last_byte = Clock::now();
};

ssize_t read_stream(void* cls, uint64_t pos, char* buf, size_t max) {
  auto* r = static_cast<StreamReader*>(cls);
  StreamCursor::Step step = r->cursor->read(r->offset + pos, buf, max);
  if (step.kind == StreamCursor::Step::data) {
    r->last_byte = Clock::now();
    return static_cast<ssize_t>(step.bytes);
  }
  if (step.kind == StreamCursor::Step::wait && Clock::now() - r->last_byte >= r->stall) {
    step = {StreamCursor::Step::fail, 0, 0,
            "no byte from the download for " + std::to_string(r->stall.count()) + " s"};
  }
  if (step.kind == StreamCursor::Step::fail) {
    // Closing before Content-Length is how the client learns the body is not the file.
    log::warn("serve: a streamed response is cut: " + step.why);
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (!r->wakers->suspend(r->connection)) return MHD_CONTENT_READER_END_WITH_ERROR;  // stopping
  std::shared_ptr<Wakers> wakers = r->wakers;
  MHD_Connection* c = r->connection;
  r->deadlines->wake_at(c, r->last_byte + r->stall);
  r->cursor->live()->notify_after(step.version, [wakers, c] { wakers->resume(c); });
  return 0;
}

void free_stream(void* cls) { delete static_cast<StreamReader*>(cls); }

MHD_Result queue(MHD_Connection* c, RequestCtx& ctx, Reply reply, Server::Internals& in) {
  ctx.status = reply.status;
  ctx.route = reply.route;
  ctx.body_bytes = ctx.method == "HEAD" ? 0 : reply.body_size();
  MHD_Response* resp = nullptr;
  if (reply.stream) {
    auto* reader = new StreamReader{std::move(reply.stream),
                                    in.wakers,
                                    in.deadlines.get(),
                                    c,
                                    reply.offset,
                                    std::chrono::seconds(std::max(1u, in.options.idle_timeout))};
    resp = MHD_create_response_from_callback(reply.length, 64 * 1024, &read_stream, reader,
                                             &free_stream);
    if (!resp) delete reader;
  } else if (reply.fd.valid()) {
    resp = MHD_create_response_from_fd_at_offset64(reply.length, reply.fd.get(), reply.offset);
    if (resp) reply.fd.release();  // the response owns it now
  } else {
    resp = MHD_create_response_from_buffer(reply.body.size(), reply.body.data(),
                                           MHD_RESPMEM_MUST_COPY);
  }
  if (!resp) return MHD_NO;
  for (const auto& [k, v] : reply.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  MHD_Result ret = MHD_queue_response(c, static_cast<unsigned>(reply.status), resp);
  MHD_destroy_response(resp);
  return ret;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char*, const char* upload, size_t* upload_size, void** con_cls) {
  auto* in = static_cast<Server::Internals*>(cls);
  auto* ctx = static_cast<RequestCtx*>(*con_cls);
  if (!ctx) {  // first call: headers are in; freed by on_completed
    ctx = new RequestCtx;
    *con_cls = ctx;
    ++in->in_flight;
    in->deadlines->headers_in(c);
    ctx->method = method;
    ctx->target = raw_target(c, url);
    // Answer on a later call, once any body has been read: libmicrohttpd closes a
    // connection whose response was queued on the first call (no keep-alive).
    return MHD_YES;
  }
  if (*upload_size != 0) {
    if (ctx->method != "POST" || ctx->body.size() + *upload_size > k_max_body) {
      ctx->body_too_big = ctx->method == "POST";  // other methods' bodies are ignored
    } else {
      ctx->body.append(upload, *upload_size);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (ctx->body_too_big) return queue(c, *ctx, error_reply(413, "", "request body too large"), *in);
  Request req;
  req.method = ctx->method;
  req.target = ctx->target;
  req.host = header(c, MHD_HTTP_HEADER_HOST);
  req.range = header(c, MHD_HTTP_HEADER_RANGE);
  req.authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
  req.if_none_match = header(c, MHD_HTTP_HEADER_IF_NONE_MATCH);
  req.if_range = header(c, MHD_HTTP_HEADER_IF_RANGE);
  req.client_ip = client_address(c);
  req.forwarded_proto = header(c, "X-Forwarded-Proto");
  req.forwarded_host = header(c, "X-Forwarded-Host");
  req.forwarded_prefix = header(c, "X-Forwarded-Prefix");
  req.body = std::move(ctx->body);
  const std::shared_ptr<Wakers>& wakers = in->wakers;
  if (ctx->job && !ctx->job->done() && wakers->is_stopped()) {  // resumed by stop()
    return queue(c, *ctx, error_reply(503, "", "the mirror is shutting down"), *in);
  }
  req.finished_job = ctx->job;
  Reply reply = in->handler->handle(req);
  if (!reply.wait) return queue(c, *ctx, std::move(reply), *in);
  // Park the connection (not the thread) until the job is over, or until a download's first
  // bytes land; libmicrohttpd then calls us again and we answer.
  ctx->job = reply.wait;
  if (!wakers->suspend(c)) {
    return queue(c, *ctx, error_reply(503, "", "the mirror is shutting down"), *in);
  }
  auto wake = [wakers, c] { wakers->resume(c); };
  if (reply.wait_version && reply.wait->live()) {
    reply.wait->live()->notify_after(*reply.wait_version, wake);
  } else {
    reply.wait->on_done(wake);
  }
  return MHD_YES;
}

void on_completed(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode toe) {
  auto* in = static_cast<Server::Internals*>(cls);
  auto* ctx = static_cast<RequestCtx*>(*con_cls);
  if (!ctx) return;
  *con_cls = nullptr;
  bool completed = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
  if (!completed) ctx->body_bytes = 0;  // unknown how much left; count only whole bodies
  in->metrics.request_done(ctx->route, ctx->status, ctx->body_bytes);
  in->access_log(c, *ctx, completed);
  in->deadlines->request_done(c);
  delete ctx;
  --in->in_flight;
}

void on_connection(void* cls, MHD_Connection* c, void**, MHD_ConnectionNotificationCode code) {
  auto* in = static_cast<Server::Internals*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    in->metrics.connection_opened();
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info) in->deadlines->opened(c, info->connect_fd);
  } else {
    in->deadlines->closed(c);  // before libmicrohttpd closes the socket
    in->metrics.connection_closed();
  }
}

// Thousands of connections need as many descriptors: raise the soft limit to the hard one.
void raise_fd_limit(unsigned connections) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(connections) + 256);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void on_mhd_error(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string line = buf;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  log::debug("serve: libmicrohttpd: " + line);
}

}  // namespace

void Server::Internals::access_log(MHD_Connection* c, const RequestCtx& ctx, bool completed) const {
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - ctx.start).count();
  // The target can carry a secret only by mistake (tokens go in headers); redact anyway.
  std::string target = log::redact(ctx.target.substr(0, 2048));
  std::string line;
  if (options.json_log) {
    nlohmann::ordered_json doc{
        {"time", utc_now()},       {"remote", client_address(c)},
        {"method", ctx.method},    {"target", target},
        {"route", ctx.route},      {"status", ctx.status},
        {"bytes", ctx.body_bytes}, {"ms", static_cast<int64_t>(ms * 1000) / 1000.0},
        {"completed", completed}};
    line = doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } else {
    for (char& ch : target) {
      if (static_cast<unsigned char>(ch) < 0x20 || ch == '"') ch = '?';
    }
    char timing[32];
    std::snprintf(timing, sizeof timing, "%.1fms", ms);
    line = utc_now() + " " + client_address(c) + " \"" + ctx.method + " " + target + "\" " +
           std::to_string(ctx.status) + " " + std::to_string(ctx.body_bytes) + " " + timing +
           (completed ? "" : " incomplete");
  }
  line += "\n";
  // One write(2) per line keeps lines from different threads whole.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

Result<ListenAddress> parse_listen(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCategory::usage, "--listen " + text + ": " + why,
                "use HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:0");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return bad("missing port");
  ListenAddress a;
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    return bad("bad port");
  }
  a.port = static_cast<uint16_t>(std::stoul(port));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    a.ipv6 = true;
    a.ip = host.substr(1, host.size() - 2);
  } else {
    a.ip = host == "localhost" ? "127.0.0.1" : host;
  }
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(a.ipv6 ? AF_INET6 : AF_INET, a.ip.c_str(), buf) != 1)
    return bad("HOST must be an IP address");
  a.host = a.ipv6 ? "[" + a.ip + "]" : a.ip;
  return a;
}

Server::Server(ServeOptions options) : m_in(std::make_unique<Internals>(std::move(options))) {}

Server::~Server() { stop(0); }

std::string Server::url() const {
  return "http://" + m_in->address.host + ":" + std::to_string(m_in->port);
}

Result<std::unique_ptr<Server>> Server::start(ServeOptions options) {
  MB_ASSIGN(ListenAddress address, parse_listen(options.listen));
  const std::string& pub = options.public_url;
  if (!pub.empty() && pub.rfind("http://", 0) != 0 && pub.rfind("https://", 0) != 0) {
    return fail(ErrorCategory::usage, "--public-url " + pub + ": not an http(s) URL",
                "e.g. https://models.example.com/hf");
  }
  std::unique_ptr<Server> s(new Server(std::move(options)));
  Internals& in = *s->m_in;
  in.address = address;
  for (const auto& p : in.options.allow) in.access.allow(p);
  for (const auto& t : in.options.tokens) {
    in.access.add_token(t);
    log::add_secret(t);
  }
  HandlerConfig hc;
  hc.page_size = in.options.page_size;
  hc.fallback_host = address.host + ":" + std::to_string(address.port);
  hc.serve_gated_anonymously = in.options.serve_gated_anonymously;
  hc.public_url = in.options.public_url;
  while (!hc.public_url.empty() && hc.public_url.back() == '/') hc.public_url.pop_back();
  hc.trusted_proxies = in.options.trusted_proxies;
  if (!in.options.upstream.empty()) {
    ProcessEnv process_env;
    fetch::HubSettings settings = in.options.hub;
    settings.endpoint_flag = in.options.upstream;
    settings.offline_what = "serve --upstream asks the hub for what the cache lacks";
    settings.offline_hint = "serve the cache without --upstream";
    auto up = Upstream::create(settings, in.options.env ? *in.options.env : process_env,
                               CacheLayout(in.options.cache));
    if (!up.ok()) return up.take_error().with_context("--upstream");
    in.upstream = std::move(*up);
  }
  if (in.options.registry_pull) {
    in.fill = std::make_unique<RegistryFill>(in.options.registry_pull, std::chrono::seconds(30));
  }
  in.handler = std::make_unique<Handler>(in.catalog, in.access, in.metrics, hc, in.upstream.get(),
                                         in.fill.get());

  sockaddr_storage ss{};
  socklen_t len = 0;
  if (address.ipv6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(address.port);
    inet_pton(AF_INET6, address.ip.c_str(), &a6->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(address.port);
    inet_pton(AF_INET, address.ip.c_str(), &a4->sin_addr);
    len = sizeof(sockaddr_in);
  }
  (void)len;
  unsigned threads =
      in.options.threads ? in.options.threads : std::max(2u, std::thread::hardware_concurrency());
  in.deadlines = std::make_unique<Deadlines>(
      std::chrono::seconds(in.options.header_timeout),
      std::chrono::seconds(in.options.idle_timeout), [wakers = in.wakers](const void* c) {
        wakers->resume(static_cast<MHD_Connection*>(const_cast<void*>(c)));
      });
  raise_fd_limit(in.options.max_connections);
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (address.ipv6 ? MHD_USE_IPv6 : 0);
  // clang-format off
  in.daemon = MHD_start_daemon(
      flags, address.port, nullptr, nullptr, &on_request, &in,
      MHD_OPTION_EXTERNAL_LOGGER, &on_mhd_error, &in,  // first, or early messages miss it
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&ss),
      MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, in.options.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, in.options.max_connections_per_client,
      MHD_OPTION_CONNECTION_TIMEOUT, in.options.idle_timeout,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 * 1024),
      MHD_OPTION_UNESCAPE_CALLBACK, &no_unescape, &in,
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, &in,
      MHD_OPTION_NOTIFY_CONNECTION, &on_connection, &in,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_END);
  // clang-format on
  if (!in.daemon) {
    return fail(ErrorCategory::io, "cannot listen on " + in.options.listen,
                "is the port in use, or the address not on this machine?");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(in.daemon, MHD_DAEMON_INFO_BIND_PORT);
  in.port = info ? info->port : address.port;
  return s;
}

void Server::stop(unsigned grace_ms) {
  if (!m_in || !m_in->daemon) return;
  MHD_socket listen_fd = MHD_quiesce_daemon(m_in->daemon);
  if (listen_fd != MHD_INVALID_SOCKET) ::close(listen_fd);
  {
    // The library must not be stopped with suspended connections: wake them (waiting requests
    // answer 503, streams send what has landed and are cut) and let the grace period below
    // see them out. Nothing suspends once stopped is set.
    Wakers& w = *m_in->wakers;
    std::lock_guard<std::mutex> g(w.mutex);
    w.stopped = true;
    for (MHD_Connection* c : w.suspended) MHD_resume_connection(c);
    w.suspended.clear();
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  while (m_in->in_flight.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  MHD_stop_daemon(m_in->daemon);
  m_in->daemon = nullptr;
}

size_t Server::upstream_jobs() const { return m_in->upstream ? m_in->upstream->jobs_running() : 0; }

}  // namespace mb::serve
