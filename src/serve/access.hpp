// Who may read what: --allow repo patterns and --token-file bearer tokens.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"

namespace mb::serve {

class AccessPolicy {
 public:
  // Patterns are fnmatch globs ('*' also matches '/') on the repo's URL name: "org/name" for
  // models, "datasets/org/name" for datasets. No pattern: every repo.
  void allow(std::string pattern) { m_allow.push_back(std::move(pattern)); }
  // Adds an accepted bearer token (kept only as its sha256).
  void add_token(std::string_view token);

  bool repo_allowed(RepoType type, const std::string& repo) const;
  bool requires_token() const { return !m_tokens.empty(); }
  // `authorization` is the raw header value ("" when absent). Comparison is constant-time
  // (digests compared with CRYPTO_memcmp, every token checked).
  bool token_ok(std::string_view authorization) const;

 private:
  std::vector<std::string> m_allow;
  std::vector<std::array<unsigned char, 32>> m_tokens;
};

// One token per line; blank lines and lines starting with '#' are skipped, whitespace trimmed.
// An empty list is an error (a --token-file that lets nobody in is a mistake).
Result<std::vector<std::string>> read_token_file(const std::string& path);

}  // namespace mb::serve
