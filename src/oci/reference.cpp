#include "oci/reference.hpp"

#include <cctype>

#include "core/hash.hpp"

namespace mb::oci {

namespace {

bool is_alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// One path component: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool is_valid_component(std::string_view c) {
  if (c.empty() || !is_alnum_lower(c.front()) || !is_alnum_lower(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (is_alnum_lower(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !is_alnum_lower(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// A registry host: letters, digits, '-', '.', optional ":port" (1-65535); or [ipv6]:port.
bool is_valid_registry(std::string_view r) {
  if (r.empty() || r.size() > 255) return false;
  std::string_view host = r, port;
  if (r.front() == '[') {
    size_t close = r.find(']');
    if (close == std::string_view::npos) return false;
    host = r.substr(0, close + 1);
    std::string_view rest = r.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
  } else {
    size_t colon = r.find(':');
    if (colon != std::string_view::npos) {
      host = r.substr(0, colon);
      port = r.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty() || host.front() == '-' || host.front() == '.' || host.back() == '-' ||
        host.back() == '.')
      return false;
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  if (!port.empty()) {
    if (port.size() > 5) return false;
    unsigned value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return false;
  }
  return true;
}

// Docker's rule: the first component names a registry when it contains '.' or ':' or is
// "localhost"; otherwise it is part of a Docker Hub repository name.
bool looks_like_registry(std::string_view first) {
  return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
         first == "localhost" || (!first.empty() && first.front() == '[');
}

Failure usage_error(std::string_view text, std::string message) {
  return fail(
      ErrorCategory::usage, "invalid registry reference '" + std::string(text) + "': " + message,
      "write REGISTRY[:PORT]/REPO[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/models/minilm:v1");
}

}  // namespace

bool is_valid_repository(std::string_view repo) {
  if (repo.empty() || repo.size() > 255) return false;
  size_t start = 0;
  while (true) {
    size_t slash = repo.find('/', start);
    std::string_view comp = repo.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!is_valid_component(comp)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool is_valid_tag(std::string_view tag) {
  if (tag.empty() || tag.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(tag.front())) return false;
  for (char c : tag)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool is_valid_digest(std::string_view digest) {
  return digest.size() == 71 && digest.substr(0, 7) == "sha256:" &&
         is_lower_hex(digest.substr(7), 64);
}

std::string Reference::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

Result<Reference> parse_reference(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return usage_error(text, "contains whitespace or control characters");
  Reference ref;
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    rest = rest.substr(0, at);
    if (!is_valid_digest(ref.digest))
      return usage_error(text, "the digest must be sha256: followed by 64 lower-case hex digits");
  }
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || !looks_like_registry(rest.substr(0, slash))) {
    return usage_error(text, "the registry host is missing");
  }
  std::string registry(rest.substr(0, slash));
  for (char& c : registry) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!is_valid_registry(registry))
    return usage_error(text, "'" + registry + "' is not a valid registry host[:port]");
  ref.registry = registry;
  std::string_view path = rest.substr(slash + 1);
  // A tag follows the last ':' that comes after the last '/'.
  size_t last_slash = path.rfind('/');
  size_t colon = path.rfind(':');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(path.substr(colon + 1));
    path = path.substr(0, colon);
    if (!is_valid_tag(ref.tag)) return usage_error(text, "'" + ref.tag + "' is not a valid tag");
  }
  if (!is_valid_repository(path)) {
    return usage_error(text, "'" + std::string(path) +
                                 "' is not a valid repository name (lower-case letters, digits, "
                                 "'.', '_', '-', separated by '/')");
  }
  ref.repository = std::string(path);
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

}  // namespace mb::oci
