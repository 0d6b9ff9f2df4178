#include "net/url.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/log.hpp"
#include "core/text.hpp"

namespace mb::net {
namespace {

int default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool has_bad_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

bool valid_reg_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
}

bool valid_ipv6_literal(std::string_view inner) {
  if (inner.empty() || inner.find(':') == std::string_view::npos) return false;
  return std::all_of(inner.begin(), inner.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
}

// Length of a URI scheme followed by ':' at the start of s, or 0.
size_t scheme_length(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return 0;
  for (size_t i = 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == ':') return i;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return 0;
  }
  return 0;
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  bool absolute = !path.empty() && path[0] == '/';
  if (absolute) pos = 1;
  bool trailing_slash = false;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    bool last = end == path.size();
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = true;
    } else if (seg == ".") {
      trailing_slash = true;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    if (last) break;
    pos = end + 1;
  }
  std::string result = absolute ? "/" : "";
  for (size_t i = 0; i < out.size(); ++i) {
    if (i > 0) result += '/';
    result += out[i];
  }
  if (trailing_slash && !out.empty()) result += '/';
  return result;
}

bool sensitive_param(std::string_view key) {
  std::string k = ascii_lower(key);
  static const char* const k_names[] = {
      "signature",    "sig",  "policy",           "key-pair-id",       "token",
      "access_token", "auth", "authorization",    "password",          "api_key",
      "apikey",       "key",  "x-goog-signature", "x-goog-credential", "se",
      "sp",           "sv"};
  if (k.rfind("x-amz-", 0) == 0) return true;
  return std::find(std::begin(k_names), std::end(k_names), k) != std::end(k_names);
}

std::string redact_query(std::string_view query) {
  std::string out;
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view param = query.substr(pos, end - pos);
    size_t eq = param.find('=');
    if (!out.empty() || pos > 0) out += '&';
    if (eq != std::string_view::npos && sensitive_param(param.substr(0, eq))) {
      out += std::string(param.substr(0, eq)) + "=***";
    } else {
      out += param;
    }
    if (end == query.size()) break;
    pos = end + 1;
  }
  return out;
}

}  // namespace

std::string Url::authority() const { return host + ":" + std::to_string(port); }

std::string Url::credential_scope() const { return scheme + "://" + authority(); }

std::string Url::origin() const {
  std::string o = scheme + "://" + host;
  if (port != default_port(scheme)) o += ":" + std::to_string(port);
  return o;
}

std::string Url::str() const { return origin() + target; }

std::string Url::path() const { return target.substr(0, target.find('?')); }

std::string Url::query() const {
  size_t q = target.find('?');
  return q == std::string::npos ? std::string() : target.substr(q + 1);
}

Result<Url> parse_url(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fail(ErrorCategory::usage, "invalid URL '" + redact_url(text) + "': " + why);
  };
  if (has_bad_chars(text)) return bad("contains whitespace or control characters");
  size_t slen = scheme_length(text);
  if (slen == 0 || text.substr(slen, 3) != "://") return bad("expected scheme://host");
  Url url;
  url.scheme = ascii_lower(text.substr(0, slen));
  if (url.scheme != "http" && url.scheme != "https")
    return bad("only http and https are supported");
  std::string_view rest = text.substr(slen + 3);
  size_t auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (size_t hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);

  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    url.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 literal");
    if (!valid_ipv6_literal(authority.substr(1, close - 1))) return bad("invalid IPv6 literal");
    url.host = ascii_lower(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("unexpected text after IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    url.host = ascii_lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    if (!valid_reg_name(url.host)) return bad("invalid host");
  }
  url.port = default_port(url.scheme);
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return bad("invalid port");
    }
    int p = std::stoi(std::string(port_text));
    if (p < 1 || p > 65535) return bad("port out of range");
    url.port = p;
  }
  url.target = std::string(target);
  if (url.target.empty() || url.target[0] == '?') url.target = "/" + url.target;
  return url;
}

bool same_origin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

bool is_relative_reference(std::string_view location) {
  return scheme_length(location) == 0 && location.substr(0, 2) != "//";
}

Result<std::string> resolve_reference(std::string_view base_text, std::string_view location) {
  MB_ASSIGN(Url base, parse_url(base_text));
  if (has_bad_chars(location)) {
    return fail(ErrorCategory::permanent, "redirect Location contains control characters");
  }
  std::string loc(location.substr(0, location.find('#')));
  std::string absolute;
  if (scheme_length(loc) != 0) {
    absolute = loc;
  } else if (loc.rfind("//", 0) == 0) {
    absolute = base.scheme + ":" + loc;
  } else {
    std::string path = loc.substr(0, loc.find('?'));
    std::string query = loc.find('?') == std::string::npos ? "" : loc.substr(loc.find('?'));
    if (path.empty()) {
      path = base.path();
      if (query.empty() && !base.query().empty()) query = "?" + base.query();
    } else if (path[0] != '/') {
      std::string bp = base.path();
      path = bp.substr(0, bp.rfind('/') + 1) + path;
    }
    absolute = base.origin() + remove_dot_segments(path) + query;
  }
  MB_ASSIGN(Url out, parse_url(absolute));
  // Normalise dot segments of absolute Locations too, so "/a/../b" cannot fool comparisons.
  size_t qpos = out.target.find('?');
  out.target = remove_dot_segments(out.path()) +
               (qpos == std::string::npos ? std::string() : out.target.substr(qpos));
  return out.str();
}

std::string percent_encode(std::string_view s, std::string_view safe) {
  static const char k_hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || c == '_' || c == '.' || c == '-' || c == '~' ||
        (u < 0x80 && safe.find(c) != std::string_view::npos)) {
      out += c;
    } else {
      out += '%';
      out += k_hex[u >> 4];
      out += k_hex[u & 0xf];
    }
  }
  return out;
}

std::string redact_url(std::string_view text) {
  size_t slen = scheme_length(text);
  std::string s(text.substr(0, text.find('#')));
  std::string head;
  std::string rest = s;
  if (slen != 0 && s.compare(slen, 3, "://") == 0) {
    head = s.substr(0, slen + 3);
    rest = s.substr(slen + 3);
    size_t auth_end = rest.find_first_of("/?");
    std::string authority = rest.substr(0, auth_end);
    if (size_t at = authority.rfind('@'); at != std::string::npos) {
      rest = "***@" + rest.substr(at + 1);
    }
  }
  size_t q = rest.find('?');
  if (q != std::string::npos) rest = rest.substr(0, q + 1) + redact_query(rest.substr(q + 1));
  return log::redact(head + rest);
}

}  // namespace mb::net
