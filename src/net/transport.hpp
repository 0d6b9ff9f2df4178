// HTTP transport interface. One Transport is shared by all worker threads: perform() is
// thread-safe and blocks the calling thread until the exchange finished. The transport
// never follows redirects: a 3xx comes back as a Response so that the protocol layer
// (hub) decides where to go and whether credentials may follow.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace mb::net {

// Ordered, multi-valued header list with case-insensitive name lookup.
class Headers {
 public:
  using Entry = std::pair<std::string, std::string>;

  void add(std::string name, std::string value);
  // Replaces every header of that name by one value.
  void set(std::string name, std::string value);
  void remove(std::string_view name);
  // First value of a header (names compared case-insensitively), nullopt if absent.
  std::optional<std::string> get(std::string_view name) const;
  std::vector<std::string> get_all(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  const std::vector<Entry>& entries() const { return m_entries; }
  bool empty() const { return m_entries.empty(); }

 private:
  std::vector<Entry> m_entries;
};

// post/put/patch/del are used by the OCI registry client (uploads, manifests, cancel).
enum class Method { get, head, post, put, patch, del };
const char* to_string(Method m);

// A request body streamed from a byte range of an open file (not owned; read with pread, so
// retries and parallel uploads of ranges of one file need no seeking or shared state).
struct FileBody {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Inclusive byte range as in "Range: bytes=first-last"; no `last` means "to the end".
struct ByteRange {
  uint64_t first = 0;
  std::optional<uint64_t> last;
  std::string header_value() const;  // "bytes=first-[last]"
};

// Credentials for a request. The transport adds "Authorization: Bearer <token>" only when
// the request URL's scheme, lower-case host and effective port (url.hpp credential_scope())
// equal `allowed_scope`; so a CDN location on another host never sees the token, and
// neither does the same host:port over plain http (a downgrade would send it in clear).
struct BearerToken {
  std::string token;
  std::string allowed_scope;      // e.g. "https://huggingface.co:443"
  std::string scheme = "Bearer";  // "Basic" for registries with htpasswd auth (token = base64)
};

inline constexpr size_t k_max_error_body = 64 * 1024;

struct Request {
  Method method = Method::get;
  std::string url;
  Headers headers;  // extra headers; do not put Authorization here, use `bearer`
  std::optional<ByteRange> range;
  std::optional<BearerToken> bearer;
  // Request body (post/put/patch): bytes in memory, or a file range when `file_body` is set.
  // Sent with Content-Length (never chunked) and without "Expect: 100-continue".
  std::string body;
  std::optional<FileBody> file_body;
  // false = do not verify the server's TLS certificate (--insecure); default verifies.
  bool verify_tls = true;
  // Time allowed to establish the connection (TCP + TLS).
  std::chrono::milliseconds connect_timeout{15'000};
  // Abort when fewer than low_speed_limit bytes/s arrive for low_speed_time (a stalled
  // connection).
  uint32_t low_speed_limit = 1024;
  std::chrono::seconds low_speed_time{30};
  // Deadline for the whole exchange (connect to last body byte); 0 = none. A response that
  // drips just above the low-speed limit would otherwise never end: the hub client sets it
  // for every metadata request and, scaled by size, for every ranged download.
  std::chrono::milliseconds total_timeout{0};
  // Largest 2xx body kept in Response::body when there is no sink; a larger one fails with a
  // permanent error instead of eating memory. Non-2xx bodies (error pages, never sent to a
  // sink) are silently truncated to k_max_error_body bytes.
  size_t max_body_bytes = 16u << 20;
};

struct Response {
  int status = 0;
  Headers headers;            // of the final response (not of 1xx interim ones)
  std::string effective_url;  // the URL that answered (equals Request::url: no redirects)
  std::string body;           // see Request::max_body_bytes
  // Bytes handed to a sink (or kept in body) for this response.
  uint64_t body_bytes = 0;

  bool is_success() const { return status >= 200 && status < 300; }
  bool is_redirect() const { return status >= 300 && status < 400; }
};

// Streaming receiver for large bodies. Only 2xx responses are streamed: for any other
// status the body is collected into Response::body (capped) and the sink is not called.
// The callbacks may run on a transport thread (CurlTransport's event loop), not the caller's:
// keep them short (write to a file), never call Transport::perform from them.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // Called once per attempt, after the headers and before any data. Returning an error
  // aborts the transfer and perform() returns that error (e.g. a Range request got 200).
  virtual Status on_response(int status, const Headers& headers) = 0;
  // Called with each chunk of the body in order. Returning an error aborts the transfer and
  // perform() returns that error unchanged.
  virtual Status on_data(const char* data, size_t size) = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Performs one HTTP exchange. Fails only when no complete response was received
  // (DNS, connect, TLS, reset, stall, body cap, or the sink aborted): the error category is
  // transient for network faults, permanent for bad URLs/protocols. Any HTTP status,
  // including 4xx/5xx and 3xx, is a successful Result; use status_error() to map it.
  virtual Result<Response> perform(const Request& request, BodySink* sink = nullptr) = 0;
};

// Category for an HTTP status: 408/425/429/5xx transient, 401/403 auth, other 4xx and
// unexpected 1xx/3xx permanent. 2xx is not an error (returns permanent; don't call it).
ErrorCategory category_for_status(int status);

// Generic error for a non-2xx response: "HTTP 503 from <redacted url>" with the category of
// category_for_status and the server's X-Error-Message when present. The hub layer builds
// friendlier messages on top (hub/errors.hpp).
Error status_error(const Response& response, std::string_view what);

// The Authorization header value the transport will send for `request`, or nullopt.
// Shared by every Transport implementation so fakes apply the same cross-host rule.
std::optional<std::string> authorization_for(const Request& request);

}  // namespace mb::net
