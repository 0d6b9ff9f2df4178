#include "net/curl_transport.hpp"

#include <curl/curl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/file.hpp"
#include "core/log.hpp"
#include "net/url.hpp"

namespace mb::net {
namespace {

struct EasyDeleter {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

Status global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return fail(ErrorCategory::io,
                std::string("libcurl initialisation failed: ") + curl_easy_strerror(code));
  }
  return {};
}

ErrorCategory category_for_curl(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_AGAIN: return ErrorCategory::transient;
    case CURLE_OUT_OF_MEMORY: return ErrorCategory::io;
    case CURLE_ABORTED_BY_CALLBACK: return ErrorCategory::cancelled;
    default: return ErrorCategory::permanent;
  }
}

std::string hint_for_curl(CURLcode code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return "the server's TLS certificate is not trusted; check the endpoint and CA certificates";
    case CURLE_COULDNT_RESOLVE_HOST: return "check the endpoint host name and DNS";
    case CURLE_COULDNT_CONNECT: return "check that the endpoint is reachable";
    default: return {};
  }
}

}  // namespace

// One perform() call in flight. Owned by the caller's stack; the event thread touches it
// only between add_handle and completion.
struct Transfer {
  const Request* request = nullptr;
  BodySink* sink = nullptr;
  EasyPtr easy;
  SlistPtr headers;
  char errbuf[CURL_ERROR_SIZE] = {};
  Response response;
  bool in_headers = true;  // parsing a header block
  bool sink_started = false;
  uint64_t upload_pos = 0;           // bytes of the request body handed to curl
  std::optional<Error> abort_error;  // set by a callback that made curl abort
  std::optional<Error> result_error;
  bool done = false;
  std::mutex mutex;
  std::condition_variable cv;
};

namespace {

size_t header_callback(char* data, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nitems;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response starts (after a 1xx interim one): forget earlier headers.
    t->response.headers = Headers();
    size_t sp = line.find(' ');
    t->response.status =
        sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    t->in_headers = true;
    return n;
  }
  if (line.empty()) {
    t->in_headers = false;
    int status = t->response.status;
    if (status >= 200 && t->sink != nullptr && t->response.is_success() && !t->sink_started) {
      t->sink_started = true;
      Status s = t->sink->on_response(status, t->response.headers);
      if (!s.ok()) {
        t->abort_error = s.take_error();
        return 0;
      }
    }
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;  // obsolete folding or junk: ignore
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  t->response.headers.add(std::string(line.substr(0, colon)), std::string(value));
  return n;
}

// Request bodies (registry uploads): from memory or pread() of a file range, so a retry
// builds a new transfer that simply starts at offset 0 again.
size_t read_callback(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  const Request& r = *t->request;
  uint64_t total = r.file_body ? r.file_body->length : r.body.size();
  if (t->upload_pos >= total) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(size * nitems, total - t->upload_pos));
  if (r.file_body) {
    ssize_t got = ::pread(r.file_body->fd, buffer, n,
                          static_cast<off_t>(r.file_body->offset + t->upload_pos));
    if (got <= 0) {
      t->abort_error =
          got < 0 ? errno_error("reading the request body", errno)
                  : make_error(ErrorCategory::io, "request body file is shorter than announced");
      return CURL_READFUNC_ABORT;
    }
    n = static_cast<size_t>(got);
  } else {
    std::memcpy(buffer, r.body.data() + t->upload_pos, n);
  }
  t->upload_pos += n;
  return n;
}

size_t write_callback(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* t = static_cast<Transfer*>(userdata);
  size_t n = size * nmemb;
  Response& r = t->response;
  if (t->sink != nullptr && r.is_success()) {
    Status s = t->sink->on_data(data, n);
    if (!s.ok()) {
      t->abort_error = s.take_error();
      return 0;
    }
    r.body_bytes += n;
    return n;
  }
  if (!r.is_success()) {
    size_t room = r.body.size() < k_max_error_body ? k_max_error_body - r.body.size() : 0;
    r.body.append(data, std::min(room, n));
    r.body_bytes += n;
    return n;
  }
  if (r.body.size() + n > t->request->max_body_bytes) {
    t->abort_error = make_error(ErrorCategory::permanent,
                                "response body from " + redact_url(t->request->url) + " exceeds " +
                                    std::to_string(t->request->max_body_bytes) + " bytes");
    return 0;
  }
  r.body.append(data, n);
  r.body_bytes += n;
  return n;
}

}  // namespace

struct CurlTransport::Impl {
  CurlOptions options;
  MultiPtr multi;
  std::thread thread;
  std::mutex mutex;
  std::deque<Transfer*> pending;  // guarded by mutex
  std::vector<EasyPtr> idle;      // guarded by mutex: reset handles for reuse
  bool stopping = false;          // guarded by mutex
  std::atomic<uint64_t> transfers{0};
  std::atomic<uint64_t> connects{0};
  std::map<CURL*, Transfer*> active;  // event thread only

  void complete(Transfer* t, CURLcode code) {
    long connects_here = 0;
    curl_easy_getinfo(t->easy.get(), CURLINFO_NUM_CONNECTS, &connects_here);
    connects += static_cast<uint64_t>(connects_here);
    ++transfers;
    if (t->abort_error) {
      t->result_error = std::move(t->abort_error);
    } else if (code != CURLE_OK) {
      std::string detail = t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code);
      while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      t->result_error = make_error(category_for_curl(code),
                                   std::string(to_string(t->request->method)) + " " +
                                       redact_url(t->request->url) + ": " + log::redact(detail),
                                   hint_for_curl(code));
    } else {
      long status = 0;
      curl_easy_getinfo(t->easy.get(), CURLINFO_RESPONSE_CODE, &status);
      t->response.status = static_cast<int>(status);
    }
    finish(t);
  }

  void finish(Transfer* t) {
    std::lock_guard lock(t->mutex);
    t->done = true;
    t->cv.notify_all();
  }

  void loop() {
    for (;;) {
      std::deque<Transfer*> incoming;
      bool stop = false;
      {
        std::lock_guard lock(mutex);
        incoming.swap(pending);
        stop = stopping;
      }
      if (stop) {
        cancel_all(incoming);
        return;
      }
      for (Transfer* t : incoming) {
        CURLMcode mc = curl_multi_add_handle(multi.get(), t->easy.get());
        if (mc != CURLM_OK) {
          t->result_error = make_error(
              ErrorCategory::io, std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
          finish(t);
          continue;
        }
        active[t->easy.get()] = t;
      }
      int running = 0;
      curl_multi_perform(multi.get(), &running);
      int queued = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL* easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        curl_multi_remove_handle(multi.get(), easy);
        auto it = active.find(easy);
        if (it == active.end()) continue;
        Transfer* t = it->second;
        active.erase(it);
        complete(t, code);
      }
      curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr);
    }
  }

  void cancel_all(std::deque<Transfer*>& incoming) {
    for (auto& [easy, t] : active) {
      curl_multi_remove_handle(multi.get(), easy);
      incoming.push_back(t);
    }
    active.clear();
    for (Transfer* t : incoming) {
      t->result_error =
          make_error(ErrorCategory::cancelled, "transfer cancelled: transport shut down");
      finish(t);
    }
  }

  EasyPtr take_easy() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        EasyPtr e = std::move(idle.back());
        idle.pop_back();
        return e;
      }
    }
    return EasyPtr(curl_easy_init());
  }

  void return_easy(EasyPtr easy) {
    // curl_easy_reset keeps the handle's DNS and TLS session caches; connections live in
    // the multi's cache and are reused whichever easy handle asks next.
    curl_easy_reset(easy.get());
    std::lock_guard lock(mutex);
    if (idle.size() < 64) idle.push_back(std::move(easy));
  }

  Status configure(Transfer& t) {
    CURL* e = t.easy.get();
    const Request& r = *t.request;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, options.buffer_size);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(r.low_speed_limit));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(r.low_speed_time.count()));
    if (r.total_timeout.count() > 0) {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(r.total_timeout.count()));
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_VERBOSE, options.verbose ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_callback);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_callback);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    bool has_body = false;
    if (r.method == Method::head) {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r.method == Method::get) {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      // Every other method carries a (possibly empty) body with an exact Content-Length.
      has_body = true;
      uint64_t len = r.file_body ? r.file_body->length : r.body.size();
      curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(len));
      curl_easy_setopt(e, CURLOPT_READFUNCTION, read_callback);
      curl_easy_setopt(e, CURLOPT_READDATA, &t);
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, to_string(r.method));
    }
    if (!r.verify_tls) {
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (r.range) {
      std::string v = r.range->header_value().substr(6);  // CURLOPT_RANGE takes "a-b"
      curl_easy_setopt(e, CURLOPT_RANGE, v.c_str());      // libcurl copies strings
    }
    curl_slist* list = nullptr;
    auto append = [&](const std::string& line) -> Status {
      curl_slist* next = curl_slist_append(list, line.c_str());
      if (next == nullptr) return fail(ErrorCategory::io, "out of memory building request headers");
      list = next;  // the head of the list never changes after the first append
      if (!t.headers) t.headers.reset(list);
      return {};
    };
    for (const auto& [name, value] : r.headers.entries()) {
      if (name.find_first_of(":\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        return fail(ErrorCategory::usage, "invalid request header '" + name + "'");
      }
      MB_TRY(append(name + ": " + value));
    }
    if (auto auth = authorization_for(r)) MB_TRY(append("Authorization: " + *auth));
    // No "Expect: 100-continue" round trip before uploads.
    if (has_body) MB_TRY(append("Expect:"));
    if (list != nullptr) curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
    return {};
  }
};

Result<std::unique_ptr<CurlTransport>> CurlTransport::create(CurlOptions options) {
  MB_TRY(global_init());
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->multi.reset(curl_multi_init());
  if (!impl->multi) return fail(ErrorCategory::io, "curl_multi_init failed");
  CURLM* m = impl->multi.get();
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, impl->options.max_host_connections);
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, impl->options.max_total_connections);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, impl->options.max_cached_connections);
  Impl* raw = impl.get();
  try {
    impl->thread = std::thread([raw] { raw->loop(); });
  } catch (const std::system_error& e) {
    return fail(ErrorCategory::io, std::string("cannot start the network thread: ") + e.what());
  }
  return std::unique_ptr<CurlTransport>(new CurlTransport(std::move(impl)));
}

CurlTransport::CurlTransport(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

CurlTransport::~CurlTransport() {
  {
    std::lock_guard lock(m_impl->mutex);
    m_impl->stopping = true;
  }
  curl_multi_wakeup(m_impl->multi.get());
  if (m_impl->thread.joinable()) m_impl->thread.join();
  // Every easy handle was removed from the multi by the loop; the multi (and with it the
  // connection cache) goes first, then the idle easy handles.
  m_impl->multi.reset();
  m_impl->idle.clear();
}

Result<Response> CurlTransport::perform(const Request& request, BodySink* sink) {
  auto url = parse_url(request.url);
  if (!url.ok()) {
    Error e = url.take_error();
    e.category = ErrorCategory::permanent;
    return e;
  }
  Transfer t;
  t.request = &request;
  t.sink = sink;
  t.response.effective_url = request.url;
  t.easy = m_impl->take_easy();
  if (!t.easy) return fail(ErrorCategory::io, "curl_easy_init failed");
  Status configured = m_impl->configure(t);
  if (!configured.ok()) {
    m_impl->return_easy(std::move(t.easy));
    return configured.take_error();
  }
  {
    std::lock_guard lock(m_impl->mutex);
    if (m_impl->stopping) return fail(ErrorCategory::cancelled, "transport is shutting down");
    m_impl->pending.push_back(&t);
  }
  curl_multi_wakeup(m_impl->multi.get());
  {
    std::unique_lock lock(t.mutex);
    t.cv.wait(lock, [&] { return t.done; });
  }
  m_impl->return_easy(std::move(t.easy));
  if (t.result_error) return std::move(*t.result_error);
  return std::move(t.response);
}

CurlStats CurlTransport::stats() const {
  return CurlStats{m_impl->transfers.load(), m_impl->connects.load()};
}

}  // namespace mb::net
