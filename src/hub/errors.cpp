// Mapping of hub error responses to clear messages (docs/hub-protocol.md "Errors"). The
// server's own message is included (redacted, truncated), never the token.
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "core/text.hpp"
#include "hub/client.hpp"
#include "net/rate_limit.hpp"
#include "net/url.hpp"

namespace mb::hub {
namespace {

std::string clean_server_text(const std::string& text) {
  return log::redact(sanitize_for_display(text, 300));
}

std::string server_message(const net::Response& r) {
  if (auto m = r.headers.get("X-Error-Message")) return clean_server_text(*m);
  auto type = r.headers.get("Content-Type");
  if (type && type->find("json") != std::string::npos && !r.body.empty()) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      return clean_server_text(j["error"].get<std::string>());
    }
  }
  return {};
}

}  // namespace

Error HubClient::error_from_response(const net::Response& r, RepoType type, const std::string& repo,
                                     std::string_view what) const {
  Error e = describe_response(r, type, repo, what);
  // The hub's own code when it sent one; a bare 401 on a repo URL means "not found or
  // private" (docs/hub-protocol.md), unless the token itself was refused.
  const std::string code = r.headers.get("X-Error-Code").value_or("");
  if (code == "GatedRepo" || code == "RepoNotFound" || code == "RevisionNotFound" ||
      code == "EntryNotFound") {
    e.code = code;
  } else if (r.status == 401 &&
             server_message(r).find("Invalid credentials") == std::string::npos) {
    e.code = "RepoNotFound";
  }
  return e;
}

Error HubClient::describe_response(const net::Response& r, RepoType type, const std::string& repo,
                                   std::string_view what) const {
  const std::string code = r.headers.get("X-Error-Code").value_or("");
  const std::string server = server_message(r);
  const std::string where = (type == RepoType::dataset ? "dataset " : "model ") + repo;
  const std::string page = endpoint() + "/" + (type == RepoType::dataset ? "datasets/" : "") + repo;
  const bool have_token = m_options.token.has_value();
  const std::string prefix = std::string(what) + ": ";
  auto with_server = [&](std::string msg) {
    return server.empty() ? msg : msg + " (server: " + server + ")";
  };

  if (code == "GatedRepo") {
    return make_error(ErrorCategory::auth, prefix + with_server(where + " is gated"),
                      have_token ? "your token has no access yet: accept the terms on " + page +
                                       " with the account of HF_TOKEN"
                                 : "accept the terms on " + page + " and set HF_TOKEN");
  }
  if (code == "RevisionNotFound") {
    return make_error(ErrorCategory::permanent,
                      prefix + with_server("revision not found in " + where + " on " + endpoint()),
                      "check the revision (branch, tag or 40-hex commit)");
  }
  if (code == "EntryNotFound") {
    return make_error(ErrorCategory::permanent,
                      prefix + with_server("file not found in " + where + " at this revision"),
                      "check the file name and the revision");
  }
  const bool invalid_credentials =
      r.status == 401 && server.find("Invalid credentials") != std::string::npos;
  if (invalid_credentials) {
    return make_error(ErrorCategory::auth, prefix + "the hub rejected the token (HTTP 401)",
                      "check HF_TOKEN: it may be expired, revoked or for another endpoint");
  }
  if (code == "RepoNotFound" || r.status == 401) {
    // The hub answers 401 for private and missing repositories alike.
    ErrorCategory cat =
        r.status == 401 || r.status == 403 ? ErrorCategory::auth : ErrorCategory::permanent;
    return make_error(cat,
                      prefix + "repository " + repo + " not found on " + endpoint() +
                          " (or it is private: set HF_TOKEN)",
                      have_token ? "check the repo id and that the token's account can read it"
                                 : "check the repo id; for a private repo set HF_TOKEN");
  }
  if (r.status == 403) {
    return make_error(ErrorCategory::auth, prefix + with_server("access denied (HTTP 403)"),
                      have_token ? "make sure the token has read permission for " + repo
                                 : "set HF_TOKEN to a token with access to " + repo);
  }
  if (r.status == 429) {
    std::string detail = "HTTP 429";
    if (auto limit = net::parse_rate_limit(r.headers)) {
      detail += "; " + net::describe(*limit) + ", resets in " +
                std::to_string(limit->reset_seconds) + " s";
    }
    return make_error(ErrorCategory::transient,
                      prefix + with_server("rate limited by " + endpoint() + " (" + detail + ")"),
                      have_token ? "wait a few minutes and run again"
                                 : "wait a few minutes, or set HF_TOKEN for a higher rate limit");
  }
  if (r.is_redirect()) {
    return make_error(ErrorCategory::permanent,
                      prefix + "unexpected redirect (HTTP " + std::to_string(r.status) + ") to " +
                          net::redact_url(r.headers.get("Location").value_or("?")));
  }
  Error e = net::status_error(r, what);
  if (!server.empty() && e.message.find(server) == std::string::npos)
    e.message += " (" + server + ")";
  return e;
}

}  // namespace mb::hub
