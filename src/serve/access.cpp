#include "serve/access.hpp"

#include <fnmatch.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "core/file.hpp"

namespace mb::serve {

namespace {

std::array<unsigned char, 32> digest(std::string_view s) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

void AccessPolicy::add_token(std::string_view token) { m_tokens.push_back(digest(token)); }

bool AccessPolicy::repo_allowed(RepoType type, const std::string& repo) const {
  if (m_allow.empty()) return true;
  std::string name = (type == RepoType::dataset ? "datasets/" : "") + repo;
  for (const auto& p : m_allow) {
    if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) return true;
  }
  return false;
}

bool AccessPolicy::token_ok(std::string_view authorization) const {
  std::string_view value = trim(authorization);
  constexpr std::string_view k_scheme = "bearer ";
  bool bearer = value.size() > k_scheme.size();
  for (size_t i = 0; bearer && i < k_scheme.size(); ++i) {
    bearer = (value[i] | 0x20) == k_scheme[i];
  }
  auto d = digest(bearer ? trim(value.substr(k_scheme.size())) : std::string_view("\n"));
  int matches = 0;
  for (const auto& t : m_tokens) matches |= CRYPTO_memcmp(t.data(), d.data(), d.size()) == 0;
  return bearer && matches;
}

Result<std::vector<std::string>> read_token_file(const std::string& path) {
  auto text = read_file(path, 1 << 20);
  if (!text.ok()) return text.take_error().with_context("--token-file");
  std::vector<std::string> out;
  std::string_view rest = *text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.front() != '#') out.emplace_back(line);
  }
  if (out.empty()) {
    return fail(ErrorCategory::usage, "--token-file " + path + " lists no token",
                "write one token per line");
  }
  return out;
}

}  // namespace mb::serve
