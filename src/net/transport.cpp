#include "net/transport.hpp"

#include <algorithm>
#include <cctype>

#include "core/text.hpp"
#include "net/rate_limit.hpp"
#include "net/url.hpp"

namespace mb::net {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

void Headers::add(std::string name, std::string value) {
  m_entries.emplace_back(std::move(name), std::move(value));
}

void Headers::set(std::string name, std::string value) {
  remove(name);
  add(std::move(name), std::move(value));
}

void Headers::remove(std::string_view name) {
  std::erase_if(m_entries, [&](const Entry& e) { return iequals(e.first, name); });
}

std::optional<std::string> Headers::get(std::string_view name) const {
  for (const auto& e : m_entries) {
    if (iequals(e.first, name)) return e.second;
  }
  return std::nullopt;
}

std::vector<std::string> Headers::get_all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& e : m_entries) {
    if (iequals(e.first, name)) out.push_back(e.second);
  }
  return out;
}

const char* to_string(Method m) {
  switch (m) {
    case Method::get: return "GET";
    case Method::head: return "HEAD";
    case Method::post: return "POST";
    case Method::put: return "PUT";
    case Method::patch: return "PATCH";
    case Method::del: return "DELETE";
  }
  return "GET";
}

std::string ByteRange::header_value() const {
  std::string v = "bytes=" + std::to_string(first) + "-";
  if (last) v += std::to_string(*last);
  return v;
}

ErrorCategory category_for_status(int status) {
  if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599)) {
    return ErrorCategory::transient;
  }
  if (status == 401 || status == 403) return ErrorCategory::auth;
  return ErrorCategory::permanent;
}

Error status_error(const Response& response, std::string_view what) {
  std::string msg = std::string(what) + ": " + (response.status == 429 ? "rate limited, " : "") +
                    "HTTP " + std::to_string(response.status) + " from " +
                    redact_url(response.effective_url);
  if (auto limit = parse_rate_limit(response.headers); limit && response.status == 429) {
    msg += " (" + describe(*limit) + ", resets in " + std::to_string(limit->reset_seconds) + " s)";
  }
  if (auto server = response.headers.get("X-Error-Message")) {
    msg += " (" + sanitize_for_display(*server, 300) + ")";
  }
  std::string hint;
  ErrorCategory cat = category_for_status(response.status);
  if (cat == ErrorCategory::auth) {
    hint = "check that HF_TOKEN is set and has access";
  } else if (cat == ErrorCategory::transient) {
    hint = "the server is busy or failing; try again later";
  }
  return make_error(cat, std::move(msg), std::move(hint));
}

std::optional<std::string> authorization_for(const Request& request) {
  if (!request.bearer || request.bearer->token.empty()) return std::nullopt;
  auto url = parse_url(request.url);
  if (!url.ok() || url->credential_scope() != request.bearer->allowed_scope) return std::nullopt;
  return request.bearer->scheme + " " + request.bearer->token;
}

}  // namespace mb::net
