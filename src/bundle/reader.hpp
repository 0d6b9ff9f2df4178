// Hostile-input-safe reading of bundles. Nothing from a bundle is ever extracted to a path it
// names: regular files are streamed into numbered temp files inside a private directory (hashed
// on the way), directories and symlinks are only recorded. Rejected with
// ErrorCategory::integrity: absolute paths, '.'/'..' components, control characters,
// symlinks or hardlinks leaving the bundle, device/fifo/socket entries, duplicate entries.
//
// Import reads a bundle in two passes so that nothing is copied before the bundle's lock is
// known: LockFinder reads entry headers only (and the lock's own bytes, into memory); then an
// EntrySet restricted to what that lock names copies the content (see bundle/admission.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "bundle/plan.hpp"
#include "core/error.hpp"
#include "store/cache_door.hpp"

struct archive;

namespace mb::bundle {

struct BundleFile {
  EntryKind kind = EntryKind::file;  // dir, file or symlink (hardlinks become files)
  std::string link;                  // symlink target as written
  uint64_t size = 0;
  std::string sha256;
  std::string git_sha1;  // computed in the same pass for files up to k_git_sha1_limit
  std::string temp;      // file: temp copy of the content
};

// Asked about every entry (normalised path, kind, declared size of a file; hardlinks count as
// files) before any of its content is read. An error refuses the bundle.
using AdmitFn = std::function<Status(const std::string& path, EntryKind kind, uint64_t size)>;

class EntrySet {
 public:
  static constexpr uint64_t k_git_sha1_limit = 256ull << 20;

  // `temp_dir` must exist below the cache's root and be private to this import; the temp
  // files are made, read and removed through the cache's door (never through a link).
  EntrySet(const CacheDoor& door, std::string temp_dir)
      : m_door(&door), m_temp_dir(std::move(temp_dir)) {}
  const CacheDoor& door() const { return *m_door; }

  // From now on every entry must pass `admit` before its content is read, and the content
  // written to temp files may total at most `budget` bytes.
  void restrict_to(AdmitFn admit, uint64_t budget) {
    m_admit = std::move(admit);
    m_budget = budget;
  }
  uint64_t bytes_written() const { return m_written; }

  // Reads a tar (plain, zstd, gzip or xz). Duplicates inside one archive are rejected;
  // across archives (OCI layers) a path may repeat only with identical content.
  Status add_archive(const std::string& path);
  // Walks a directory without following symlinks.
  Status add_directory(const std::string& root);

  const std::map<std::string, BundleFile>& entries() const { return m_entries; }
  const BundleFile* find(const std::string& path) const;

 private:
  Status add(const std::string& raw_path, BundleFile f);
  // Before an entry's content is read: refuses a duplicate within this archive and asks the
  // admission. True when an earlier archive (OCI layer) holds the path already.
  Result<bool> precheck(const std::string& path, EntryKind kind, uint64_t size);
  // Streams `size` bytes from `fd` (or, when fd < 0, from the archive's current entry) into a
  // temp file; with keep = false they are only hashed (for comparison with an earlier copy).
  Result<BundleFile> copy_in(int fd, ::archive* a, uint64_t size, const std::string& what,
                             bool keep = true);
  std::string next_temp();

  const CacheDoor* m_door;
  std::string m_temp_dir;
  AdmitFn m_admit;
  uint64_t m_budget = UINT64_MAX;
  uint64_t m_written = 0;
  std::map<std::string, BundleFile> m_entries;
  std::map<std::string, int> m_scope_of;  // path -> archive number that added it
  int m_scope = 0;
  uint64_t m_counter = 0;
};

// The bundle's own lock, found in pass 1.
struct FoundLock {
  std::string path;  // normalised bundle path
  std::string text;  // its bytes
};

// Pass 1 of an import: finds the lock without copying anything. The lock is the regular file
// named modelbake.lock with the shortest path; when an archive's first regular file is named
// modelbake.lock (as 'modelbake export' writes it) the scan of that archive stops there, so a
// compressed bundle is not decompressed twice. Paths are validated like EntrySet does.
class LockFinder {
 public:
  static constexpr uint64_t k_lock_limit = 64ull << 20;

  // With a door, archives below its root (what import and pull staged in the cache's tmp/)
  // are opened through it.
  explicit LockFinder(const CacheDoor* door = nullptr) : m_door(door) {}

  Status scan_archive(const std::string& path);
  Status scan_directory(const std::string& root);
  const std::optional<FoundLock>& found() const { return m_found; }
  // Of the archives scanned: whether one had an 'oci-layout' file at its root (an OCI layout
  // packed in a tar), and whether one was compressed.
  bool saw_oci_layout() const { return m_saw_oci_layout; }
  bool compressed() const { return m_compressed; }

 private:
  // Whether `path` would replace the current best.
  bool better(const std::string& path) const;

  std::optional<FoundLock> m_found;
  const CacheDoor* m_door;
  bool m_saw_oci_layout = false;
  bool m_compressed = false;
};

// Opens a bundle's file for reading, checked to be a regular file: through `door` when `path`
// lies below its root (what import and pull staged in the cache's tmp/: never through a link),
// else by path (a user's bundle, O_NONBLOCK).
Result<UniqueFd> open_bundle_file(const CacheDoor* door, const std::string& path);

// Lexically normalises a path from a bundle ("./a/b/" -> "a/b"); "" for the root itself.
Result<std::string> normalize_entry_path(std::string_view raw);

// Resolves a symlink target against the link's folder without touching the disk; fails
// when it is absolute or climbs above the bundle root. Returns the resolved bundle path.
Result<std::string> resolve_link(std::string_view link_path, std::string_view target);

}  // namespace mb::bundle
