// Hostile-input-safe reading of bundles. Nothing from a bundle is ever extracted to a path it
// names: regular files are streamed into numbered temp files inside a private directory (hashed
// on the way), directories and symlinks are only recorded. Rejected with
// ErrorCategory::integrity: absolute paths, '.'/'..' components, control characters,
// symlinks or hardlinks leaving the bundle, device/fifo/socket entries, duplicate entries.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "bundle/plan.hpp"
#include "core/error.hpp"

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

class EntrySet {
 public:
  static constexpr uint64_t k_git_sha1_limit = 256ull << 20;

  // `temp_dir` must exist and be private to this import.
  explicit EntrySet(std::string temp_dir) : m_temp_dir(std::move(temp_dir)) {}

  // Reads a tar (plain, zstd, gzip or xz). Duplicates inside one archive are rejected;
  // across archives (OCI layers) a path may repeat only with identical content.
  Status add_archive(const std::string& path);
  // Walks a directory without following symlinks.
  Status add_directory(const std::string& root);

  const std::map<std::string, BundleFile>& entries() const { return m_entries; }
  const BundleFile* find(const std::string& path) const;

 private:
  Status add(const std::string& raw_path, BundleFile f);
  // Streams `size` bytes from `fd` (or, when fd < 0, from the archive's current entry).
  Result<BundleFile> copy_in(int fd, ::archive* a, uint64_t size, const std::string& what);
  std::string next_temp();

  std::string m_temp_dir;
  std::map<std::string, BundleFile> m_entries;
  std::map<std::string, int> m_scope_of;  // path -> archive number that added it
  int m_scope = 0;
  uint64_t m_counter = 0;
};

// Lexically normalises a path from a bundle ("./a/b/" -> "a/b"); "" for the root itself.
Result<std::string> normalize_entry_path(std::string_view raw);

// Resolves a symlink target against the link's folder without touching the disk; fails
// when it is absolute or climbs above the bundle root. Returns the resolved bundle path.
Result<std::string> resolve_link(std::string_view link_path, std::string_view target);

}  // namespace mb::bundle
