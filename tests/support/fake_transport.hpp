// Scripted in-memory Transport for unit tests: no sockets. Responses are matched by method
// and exact URL (first unused scripted response wins, the last one of a route repeats);
// every request is recorded with the Authorization header the real transport would send.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/transport.hpp"

namespace mb::net {

struct RecordedRequest {
  Request request;
  std::optional<std::string> authorization;  // as computed by authorization_for()
};

class FakeTransport final : public Transport {
 public:
  using Handler = std::function<Result<Response>(const Request&)>;

  // Queues a canned response for (method, url).
  void add(Method method, const std::string& url, Response response);
  // Queues a transport failure (e.g. transient "connection reset") for (method, url).
  void add_error(Method method, const std::string& url, Error error);
  // Convenience: a response with status, headers and body.
  void add(Method method, const std::string& url, int status,
           std::vector<std::pair<std::string, std::string>> headers, std::string body = {});
  // Fallback for requests with no scripted route; default: 404 with X-Error-Code unset.
  void set_fallback(Handler handler);

  Result<Response> perform(const Request& request, BodySink* sink = nullptr) override;

  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;

 private:
  struct Route {
    std::vector<Result<Response>> queue;
    size_t next = 0;
  };
  mutable std::mutex m_mutex;
  std::map<std::pair<Method, std::string>, Route> m_routes;
  Handler m_fallback;
  std::vector<RecordedRequest> m_requests;
};

}  // namespace mb::net
