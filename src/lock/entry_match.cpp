#include "lock/entry_match.hpp"

#include <fmt/format.h>

namespace mb {

std::string EntryMatch::describe() const {
  switch (kind) {
    case EntryMismatch::none: return "matches the lock";
    case EntryMismatch::size:
      return fmt::format("has {} bytes, the lock says {}", actual, expected);
    case EntryMismatch::sha256:
      return fmt::format("sha256 {} does not match the lock's {}", actual, expected);
    case EntryMismatch::git_sha1:
      return fmt::format("git blob sha1 {} does not match the lock's etag {}", actual, expected);
  }
  return "unknown mismatch";
}

WithGitSha1 digests_needed(const EntryExpectation& want) {
  return etag_is_git_sha1(want.etag) ? WithGitSha1::yes : WithGitSha1::no;
}

EntryMatch match_entry(const EntryExpectation& want, const FileDigests& got) {
  if (want.size && got.size != *want.size)
    return {EntryMismatch::size, std::to_string(*want.size), std::to_string(got.size)};
  if (etag_is_sha256(want.etag) && got.sha256 != want.etag)
    return {EntryMismatch::sha256, want.etag, got.sha256};
  if (!want.sha256.empty() && got.sha256 != want.sha256)
    return {EntryMismatch::sha256, want.sha256, got.sha256};
  if (etag_is_git_sha1(want.etag) && got.git_sha1 != want.etag)
    return {EntryMismatch::git_sha1, want.etag, got.git_sha1};
  return {};
}

}  // namespace mb
