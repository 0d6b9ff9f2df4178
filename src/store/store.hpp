// Write side of the cache. Content enters as a verified temp file inside the cache's tmp
// directory, is renamed into the object store, then hard-linked into the repo's blobs/ and
// pointed to from snapshots/. The store never talks to the network: whoever produces the
// bytes (fetch, import, pull) hands over a finished temp file.
//
// Locking rules (docs/cache-layout.md):
//  * every writer (fetch, import, pull) holds the cache lock shared for its whole run;
//    gc and rm hold it exclusive, so an object is never collected between being adopted and
//    being linked into a repo;
//  * one content lock per content key serialises concurrent downloads of the same bytes:
//    the second process waits, then finds the object present.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/file.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb {

class Store {
 public:
  explicit Store(CacheLayout layout) : m_layout(std::move(layout)) {}
  const CacheLayout& layout() const { return m_layout; }

  // Creates the private directories and CACHEDIR.TAG (idempotent), first moving a legacy
  // <root>/.modelbake into place (see migrate_legacy_private_dir). Refuses (integrity) when a
  // private folder is a symlink.
  Status init() const;

  // Refuses (integrity) when the repo folder or its blobs/, snapshots/ or refs/ is a symlink
  // (or not a folder), and so is snapshots/<commit> when `commit` is given. Absent folders are
  // fine. Writers call it before touching a repo.
  Status check_repo_dirs(RepoType type, std::string_view repo, std::string_view commit = {}) const;

  Result<FileLock> lock_cache(LockMode mode) const;
  Result<FileLock> lock_content(std::string_view key) const;

  bool has_object(std::string_view sha256) const;
  // `temp_path` must be a complete, verified, fsynced file inside layout().tmp_dir().
  // If the object already exists the temp file is removed instead.
  Status adopt_object(const std::string& temp_path, std::string_view sha256) const;

  // blobs/<etag> becomes a hard link to objects/<sha256> (a copy where hard links fail).
  Status link_blob(const LockedModel& m, const LockedFile& f) const;
  // snapshots/<commit>/<path> -> ../../blobs/<etag> (relative symlink, replaced atomically).
  // The temporary link is made in tmp_dir() and renamed into place: a process killed at any
  // moment leaves nothing but finished links under snapshots/.
  Status link_snapshot_file(const LockedModel& m, const LockedFile& f) const;
  // refs/<revision> holds exactly the 40-hex commit, no newline. No-op when the revision is
  // the commit itself. Written in tmp_dir() and renamed: refs/ never holds a temp name (which
  // huggingface_hub would read as a ref).
  Status write_ref(const LockedModel& m) const;
  // link_blob + link_snapshot_file for a file whose object is present.
  Status publish_file(const LockedModel& m, const LockedFile& f) const;

  // Removes the `<path>.tmp.<8 hex>` links older versions left in snapshots/<commit> when
  // killed (never a path the lock names). Returns how many were removed.
  Result<size_t> remove_snapshot_leftovers(const LockedModel& m) const;

  // Records fetched_at / last_used for status, ls and gc (LRU).
  Status record_snapshot_use(const LockedModel& m, int64_t unix_now, bool fetched) const;
  // Who may read the snapshot's repo, as learnt when it was fetched: "public", "gated",
  // "private" or "unknown" (a token was needed and the hub did not say). `serve` keeps all but
  // "public" behind its own token; "" (never recorded: another tool filled the cache) is public.
  Status record_snapshot_access(const LockedModel& m, const std::string& access) const;

  // A fresh temp path inside tmp_dir() for content `key`: "<key>.tmp.<rand>" (core temp_path_for).
  std::string new_temp_path(std::string_view key) const;

  // Xet chunk indexes (fetch/xet_index.hpp): <private>/xet/<sha256>, where the Xet chunks of a
  // downloaded object lie, so later downloads copy shared chunks instead of fetching them.
  // Listing names only objects still present (an index outliving its object is ignored).
  Status save_xet_index(std::string_view sha256, std::string_view text) const;
  std::vector<std::string> xet_indexed_objects() const;
  Result<std::string> read_xet_index(std::string_view sha256) const;

 private:
  Status migrate_legacy_private_dir() const;
  bool is_regular(const std::string& path, uint64_t* size = nullptr,
                  struct stat* out = nullptr) const;
  // Checks (creating what is missing) the folders of `rel` below the root.
  Status real_dirs(const std::string& rel) const;
  // Renames `temp` (in tmp_dir()) to `dest`; removes the temp on failure.
  Status move_into_place(const std::string& temp, const std::string& dest) const;

  CacheLayout m_layout;
};

// The access recorded by Store::record_snapshot_access ("" when none).
std::string snapshot_access(const CacheLayout& layout, RepoType type, const std::string& repo,
                            const std::string& commit);

}  // namespace mb
