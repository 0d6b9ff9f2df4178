// URL helpers for the hub protocol: parsing just enough of RFC 3986 to compare origins and
// resolve redirect Locations, percent-encoding as Python's urllib.parse.quote, and
// redaction of credentials/signatures before a URL reaches a log line or an Error.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace mb::net {

struct Url {
  std::string scheme;    // lower-case, "http" or "https" (others rejected by parse_url)
  std::string userinfo;  // without '@'; empty if none
  std::string host;      // lower-case; IPv6 literals keep their brackets: "[::1]"
  int port = 0;          // explicit port, or the scheme default (80/443)
  std::string target;    // path + optional "?query"; "/" when empty; fragment dropped

  // "host:port" with the effective port.
  std::string authority() const;
  // "scheme://host:port" with the effective port: what credentials are bound to
  // (BearerToken::allowed_scope). The scheme is part of it so that a token meant for
  // https://hub:443 never travels in clear to http://hub:443.
  std::string credential_scope() const;
  // "scheme://host[:port]" with the port omitted when it is the default.
  std::string origin() const;
  // origin() + target (no userinfo).
  std::string str() const;
  std::string path() const;   // target without the query
  std::string query() const;  // after '?', without it; empty if none
};

// Parses an absolute http(s) URL. Rejects other schemes, empty/invalid hosts, bad ports,
// whitespace and control characters (category usage; callers re-categorise for servers).
Result<Url> parse_url(std::string_view text);

// Same scheme, host and effective port.
bool same_origin(const Url& a, const Url& b);

// Resolves a redirect Location against the URL that returned it: absolute URLs,
// scheme-relative "//host/p", absolute paths "/p?q", and relative references "p" / "../p"
// (dot segments removed). The result must be http(s) (a Location to file:// is refused).
Result<std::string> resolve_reference(std::string_view base, std::string_view location);

// True for a reference without scheme and authority ("/new/path", "x?y").
bool is_relative_reference(std::string_view location);

// Python's urllib.parse.quote(s, safe): letters, digits and "_.-~" are never encoded,
// characters in `safe` are kept, every other byte becomes %XX (upper-case hex).
std::string percent_encode(std::string_view s, std::string_view safe);
// A revision in a URL path segment: quote(rev, safe="") ("refs/pr/1" -> "refs%2Fpr%2F1").
inline std::string encode_revision(std::string_view rev) { return percent_encode(rev, ""); }
// A repo file path: quote(path, safe="/").
inline std::string encode_path(std::string_view path) { return percent_encode(path, "/"); }

// URL safe for logs and error messages: userinfo replaced by "***", and the values of query
// parameters that carry signatures or credentials (X-Amz-*, Signature, Policy, Key-Pair-Id,
// token, sig, ...) replaced by "***". Unparseable input is returned with its query removed.
std::string redact_url(std::string_view url);

}  // namespace mb::net
