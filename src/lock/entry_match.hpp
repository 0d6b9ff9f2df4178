// The one answer to "do these bytes match their lock entry?" (fetch's download check and
// adoption of a cached blob, verify's findings and --repair, serve's proof of a blob, import).
// A lock entry names its content three ways: the size, the sha256 and the hub etag (the sha256
// again for LFS files, the git blob sha1 for small files); every way that is known must agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/hash.hpp"
#include "lock/lockfile.hpp"

namespace mb {

// What the content should be. `size` unknown (a download that did not announce it) and
// `sha256` empty (at lock time, before the first download) are not checked.
struct EntryExpectation {
  std::optional<uint64_t> size;
  std::string sha256;
  std::string etag;

  static EntryExpectation of(const LockedFile& f) { return {f.size, f.sha256, f.etag}; }
};

enum class EntryMismatch { none, size, sha256, git_sha1 };

struct EntryMatch {
  EntryMismatch kind = EntryMismatch::none;
  std::string expected;  // what the lock says (decimal size or hex digest)
  std::string actual;    // what the bytes are

  bool ok() const { return kind == EntryMismatch::none; }
  // "has 5 bytes, the lock says 7" / "sha256 <a> does not match the lock's <b>" / ...
  std::string describe() const;
};

// Whether hashing must compute the git blob sha1 too (a small file's etag is one).
WithGitSha1 digests_needed(const EntryExpectation& want);

// Size first, then sha256 (against the lock's sha256 and an LFS etag), then the git blob sha1
// for a git-sha1 etag (`got.git_sha1` must have been computed: digests_needed).
EntryMatch match_entry(const EntryExpectation& want, const FileDigests& got);

}  // namespace mb
