// The one door into a cache. A cache is shared (a BuildKit cache mount, an NFS volume, a
// mirror's store): any folder or file below its root may have been replaced by a symlink or a
// FIFO by another job, before or while modelbake runs. Checking path strings folder by folder
// cannot be complete nor race-free, so every file-system operation below the root goes
// through this module, relative to directory descriptors that were opened without following
// any link:
//  * the root is opened once (it may itself be a link: users move their HF cache that way);
//  * a folder below it is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or, where
//    the kernel lacks openat2 (Linux < 5.6, seccomp), by walking components with
//    O_NOFOLLOW | O_DIRECTORY; a folder swapped for a link at any moment makes the open fail;
//  * leaves are reached with the *at calls on that descriptor (mkdirat, unlinkat, renameat,
//    linkat, symlinkat, fstatat(AT_SYMLINK_NOFOLLOW), readlinkat); a leaf that must be a regular
//    file is opened O_NOFOLLOW | O_NONBLOCK and checked with fstat;
//  * the only links ever followed are snapshot links, read with readlinkat and accepted only in
//    their exact shape (`../../blobs/<hex>`, one more `../` per folder level), see snapshot_blob;
//  * recursive deletion walks descriptors and never crosses a link or a mount.
// Errors name the planted entry (integrity, exit 1).
//
// Paths are given either relative to the root or as absolute paths that start with the root
// (what CacheLayout builds); anything else is refused.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/file.hpp"

namespace mb {

enum class MissingDir { create, ok };

// How folders below the root are opened: `automatic` tries openat2 and falls back to the
// component walk when the kernel refuses it (ENOSYS, EPERM under seccomp); `walk` always walks
// (tests cover both ways).
enum class Resolve { automatic, walk };

struct DoorEntry {
  std::string name;
  struct stat st {};  // from fstatat(AT_SYMLINK_NOFOLLOW): a link is S_IFLNK
};

class CacheDoor {
 public:
  explicit CacheDoor(std::string root, Resolve how = Resolve::automatic);
  CacheDoor(const CacheDoor&) = delete;
  CacheDoor& operator=(const CacheDoor&) = delete;

  const std::string& root() const { return m_root; }
  // The root made absolute for messages and comparisons.
  std::string display(std::string_view rel) const;
  // `path` relative to the root ("" for the root itself); a usage error when it is outside.
  Result<std::string> relative(std::string_view path) const;

  // The folder `path`, opened without following any link below the root. With
  // MissingDir::create every missing folder is made (0755); with MissingDir::ok an absent
  // folder gives an invalid fd. A link, FIFO or file on the way is an integrity error naming it.
  Result<UniqueFd> open_dir(std::string_view path, MissingDir missing) const;

  // A regular file: `flags` (O_RDONLY, O_RDWR, O_WRONLY | O_CREAT | O_EXCL, ...) plus
  // O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC (O_NONBLOCK is cleared again once fstat says regular).
  // Parent folders are made when `flags` has O_CREAT. Absent: an io error with `absent` set.
  Result<UniqueFd> open_file(std::string_view path, int flags, mode_t mode = 0644) const;
  // open_file(O_RDONLY) but an absent file is an empty optional.
  Result<std::optional<UniqueFd>> open_existing(std::string_view path) const;
  Result<std::string> read_file(std::string_view path, uint64_t max_bytes) const;
  // Temp next to `path` (created O_EXCL), fsync, renameat, fsync of the folder.
  // With Sync::no neither the file nor the folder is fsynced (resume sidecars).
  Status write_file_atomic(std::string_view path, std::string_view content, int mode = 0644,
                           Sync sync = Sync::yes) const;
  // Copies the regular file `from` into the new file `to` (O_EXCL) and fsyncs it; removes
  // `to` on failure. Where hard links fail.
  Status copy_file(std::string_view from, std::string_view to) const;

  // fstatat(AT_SYMLINK_NOFOLLOW); empty when the entry or a folder above it is absent.
  Result<std::optional<struct stat>> lstat(std::string_view path) const;
  // readlinkat; empty when absent; an integrity error when it is not a link.
  Result<std::optional<std::string>> read_link(std::string_view path) const;
  // The entries of a folder (not "." and ".."), sorted by name; empty when it is absent.
  Result<std::vector<DoorEntry>> list(std::string_view dir) const;

  Status make_dirs(std::string_view dir) const;
  // unlinkat of a file or link (never what it points to); absent is fine.
  Status unlink(std::string_view path) const;
  Status rename(std::string_view from, std::string_view to) const;
  // A second name for the regular file `from` (linkat without following; a link at `from` is
  // refused). Fails with the errno of linkat (EXDEV, EPERM...) for the caller to fall back.
  Status hard_link(std::string_view from, std::string_view to) const;
  Status symlink(std::string_view target, std::string_view path) const;
  // Makes `path` a link to `target`, atomically: the link is made at `temp` (in the cache's
  // tmp/, so that a killed process leaves nothing in the hub view) and renamed over `path`;
  // where that crosses a device (a repo folder on another mount) the temp is made next to it.
  Status publish_symlink(std::string_view target, std::string_view path,
                         std::string_view temp) const;
  Status fsync_dir(std::string_view dir) const;
  // Deletes `path` and everything below it through descriptors: links are removed, never
  // followed, and a folder on another device (a mount) stops the walk with an error. A link
  // at `path` itself is refused (naming it). Absent is fine.
  Status remove_tree(std::string_view path) const;

  // Advisory lock on a lock file below the root (created if missing, never through a link).
  Result<FileLock> lock(std::string_view path, LockMode mode, bool wait = true) const;

  // The only link the cache follows: snapshots/<commit>/<file> -> ../../blobs/<etag> (one more
  // "../" per folder level of <file>). Returns the etag when the link has exactly that shape,
  // empty when the entry is absent, an integrity error naming it otherwise.
  // `snapshot_file` is "<repo folder>/snapshots/<commit>/<file>".
  Result<std::optional<std::string>> snapshot_blob(std::string_view snapshot_file) const;

  // The root fd, opened once (following a link at the root itself).
  Result<int> root_fd() const;
  // The root with a link at the root itself resolved (realpath; the root as given if that
  // fails): where paths that verify reports start.
  std::string real_root() const;

 private:
  Result<UniqueFd> open_rel_dir(std::string_view rel, MissingDir missing) const;
  // Opens the parent of `path` and returns it with the leaf name.
  struct Parent {
    UniqueFd fd;
    std::string name;
    std::string rel;  // of the leaf
  };
  Result<Parent> parent_of(std::string_view path, MissingDir missing) const;

  std::string m_root;
  Resolve m_how;
  mutable std::mutex m_mutex;
  mutable UniqueFd m_root_fd;
};

// A private folder below the cache root (import's and pull's work trees in tmp/), made through
// the door and removed by a descriptor walk when the guard goes out of scope, whatever happened.
class DoorTempTree {
 public:
  static Result<DoorTempTree> create(const CacheDoor& door, std::string path);
  DoorTempTree(DoorTempTree&& o) noexcept : m_door(o.m_door), m_path(std::move(o.m_path)) {
    o.m_door = nullptr;
  }
  DoorTempTree& operator=(DoorTempTree&&) = delete;
  DoorTempTree(const DoorTempTree&) = delete;
  DoorTempTree& operator=(const DoorTempTree&) = delete;
  ~DoorTempTree();
  const std::string& path() const { return m_path; }

 private:
  DoorTempTree(const CacheDoor* door, std::string path) : m_door(door), m_path(std::move(path)) {}
  const CacheDoor* m_door;
  std::string m_path;
};

// The error for a planted link at `shown` (readlinkat(dirfd, name) gives its target).
Error planted_link_error(const std::string& shown, int dirfd, const std::string& name);
// The same for a link found by path (gc/rm reports, tests).
Error planted_link_error(const std::string& path);

// The etag of a snapshot link target of exactly the shape snapshots/<commit>/<file> has:
// "../" once per folder of <file> plus twice, then "blobs/<40 or 64 hex>". `file_parts` is the
// number of components of <file> ("config.json": 1). Empty for any other target.
std::optional<std::string> snapshot_link_etag(std::string_view target, size_t file_parts);

// True when `name` is a snapshot folder name: a 40-hex commit.
bool is_commit_name(std::string_view name);

// Component walk and openat2 below `dirfd` (exposed for the unit tests of both ways).
Result<UniqueFd> open_beneath(int dirfd, std::string_view rel, MissingDir missing,
                              const std::string& shown_base, Resolve how);
// Whether openat2 worked the last time it was tried (false after ENOSYS/EPERM).
bool openat2_available();

}  // namespace mb
