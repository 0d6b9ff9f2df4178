// The read side of a modelbake cache, as a hub mirror sees it. Everything is read from the
// disk at request time (a concurrent `modelbake fetch` may add revisions or files at any
// moment), so there is nothing to invalidate.
//
// What is served: a snapshot entry snapshots/<commit>/<path> that is a symlink of the exact
// shape ../../blobs/<etag> (CacheDoor::snapshot_blob), with etag a 40-hex git blob sha1 or a
// 64-hex sha256 (LFS), and whose blob is a regular file. Every folder on the way (the repo
// folder included) is entered through the cache door, never through a link. Anything else in
// a snapshot (regular files, other links, odd names) is not listed and not served. Before bytes
// leave, the blob is proven to be its etag's content (open_verified): the same inode as
// objects/sha256/<etag> (objects are only ever created from verified content), or hashed once and
// remembered by inode identity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/file.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::serve {

// An HTTP-level failure with the hub's X-Error-Code ("RepoNotFound", ...; may be empty).
struct HubError {
  int status = 404;
  std::string code;
  std::string message;
};

struct Entry {
  std::string path;  // repo-relative
  std::string etag;  // 40 hex (git blob sha1) or 64 hex (sha256, LFS)
  uint64_t size = 0;
  bool is_lfs() const { return etag.size() == 64; }
};

struct OpenedFile {
  Entry entry;
  UniqueFd fd;  // open on the verified blob
};

struct RepoId {
  RepoType type = RepoType::model;
  std::string repo;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const RepoId&) const = default;
};

class Catalog {
 public:
  explicit Catalog(CacheLayout layout) : m_layout(std::move(layout)) {}
  const CacheLayout& layout() const { return m_layout; }

  bool has_repo(RepoType type, const std::string& repo) const;
  // Branch/tag/refs/pr name from refs/, or a 40-hex commit with a snapshot folder.
  std::optional<HubError> resolve(RepoType type, const std::string& repo,
                                  const std::string& revision, std::string& commit) const;
  // Every servable file of a snapshot, sorted by path.
  std::vector<Entry> list(RepoType type, const std::string& repo, const std::string& commit) const;
  // One servable file (EntryNotFound when absent or not servable).
  std::optional<HubError> find(RepoType type, const std::string& repo, const std::string& commit,
                               const std::string& path, Entry& out) const;
  // find() + open + proof that the bytes are the etag's content (500 when they are not).
  std::optional<HubError> open_verified(RepoType type, const std::string& repo,
                                        const std::string& commit, const std::string& path,
                                        OpenedFile& out);
  // Repos that have at least one snapshot folder.
  std::vector<RepoId> repos() const;

  uint64_t hashes_done() const;

 private:
  // The one snapshot whose commit starts with `prefix` ("" when none, or several).
  std::string unique_commit_prefix(RepoType type, const std::string& repo,
                                   const std::string& prefix) const;
  // Resolves a snapshot entry to its blob: etag and size, or nullopt when not servable.
  std::optional<Entry> servable(const std::string& snapshot_rel, const std::string& rel) const;
  bool is_dir(const std::string& path) const;
  bool verified(int fd, const Entry& e);

  using InodeKey =
      std::tuple<dev_t, ino_t, off_t, int64_t, int64_t>;  // dev, ino, size, mtime, ctime
  CacheLayout m_layout;
  mutable std::mutex m_mutex;
  // inode identity -> etag it was proven to be ("" when it failed its proof)
  std::map<InodeKey, std::string> m_verified;
  uint64_t m_hashes = 0;
};

}  // namespace mb::serve
