#include "support/fake_transport.hpp"

#include <algorithm>

namespace mb::net {

void FakeTransport::add(Method method, const std::string& url, Response response) {
  std::lock_guard lock(m_mutex);
  if (response.effective_url.empty()) response.effective_url = url;
  m_routes[{method, url}].queue.emplace_back(std::move(response));
}

void FakeTransport::add_error(Method method, const std::string& url, Error error) {
  std::lock_guard lock(m_mutex);
  m_routes[{method, url}].queue.emplace_back(std::move(error));
}

void FakeTransport::add(Method method, const std::string& url, int status,
                        std::vector<std::pair<std::string, std::string>> headers,
                        std::string body) {
  Response r;
  r.status = status;
  for (auto& [k, v] : headers) r.headers.add(std::move(k), std::move(v));
  r.body = std::move(body);
  add(method, url, std::move(r));
}

void FakeTransport::set_fallback(Handler handler) {
  std::lock_guard lock(m_mutex);
  m_fallback = std::move(handler);
}

Result<Response> FakeTransport::perform(const Request& request, BodySink* sink) {
  Result<Response> scripted = fail(ErrorCategory::permanent, "unset");
  Handler handler;
  {
    std::lock_guard lock(m_mutex);
    m_requests.push_back({request, authorization_for(request)});
    auto it = m_routes.find({request.method, request.url});
    if (it != m_routes.end() && !it->second.queue.empty()) {
      Route& route = it->second;
      scripted = route.queue[std::min(route.next, route.queue.size() - 1)];
      if (route.next < route.queue.size()) ++route.next;
    } else if (m_fallback) {
      handler = m_fallback;
    } else {
      Response r;
      r.status = 404;
      r.effective_url = request.url;
      r.body = "no scripted response";
      scripted = std::move(r);
    }
  }
  if (handler) scripted = handler(request);  // outside the lock: it may be slow or reentrant
  if (!scripted.ok()) return scripted;
  Response response = std::move(scripted).value();
  if (response.effective_url.empty()) response.effective_url = request.url;
  if (request.method == Method::head) response.body.clear();
  // Mirror the real transport: only 2xx bodies go to a sink; others stay in body (capped).
  if (sink != nullptr && response.is_success()) {
    MB_TRY(sink->on_response(response.status, response.headers));
    const std::string body = std::move(response.body);
    response.body.clear();
    // Deliver in a few chunks so sinks see more than one on_data call.
    size_t chunk = std::max<size_t>(1, body.size() / 3 + 1);
    for (size_t off = 0; off < body.size(); off += chunk) {
      size_t n = std::min(chunk, body.size() - off);
      MB_TRY(sink->on_data(body.data() + off, n));
      response.body_bytes += n;
    }
    return response;
  }
  if (!response.is_success() && response.body.size() > k_max_error_body) {
    response.body.resize(k_max_error_body);
  }
  if (response.body.size() > request.max_body_bytes) {
    return fail(ErrorCategory::permanent, "response body from " + request.url + " exceeds " +
                                              std::to_string(request.max_body_bytes) + " bytes");
  }
  response.body_bytes = response.body.size();
  return response;
}

std::vector<RecordedRequest> FakeTransport::requests() const {
  std::lock_guard lock(m_mutex);
  return m_requests;
}

size_t FakeTransport::request_count() const {
  std::lock_guard lock(m_mutex);
  return m_requests.size();
}

}  // namespace mb::net
