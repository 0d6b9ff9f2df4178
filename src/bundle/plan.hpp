// The entries of a bundle, computed from a lock: which paths exist, what kind they are and
// where their bytes come from. Export writes a plan (directory, tar, OCI layers); import
// compares what an untrusted bundle holds against the plan of its own lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/oci_image.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::bundle {

inline constexpr std::string_view k_lock_name = "modelbake.lock";

enum class EntryKind { dir, file, symlink, hardlink };
const char* to_string(EntryKind k);

struct Entry {
  std::string path;  // relative, '/'-separated, no trailing '/'
  EntryKind kind = EntryKind::file;
  uint64_t size = 0;   // file: content size
  std::string sha256;  // file: content digest (empty for generated data)
  std::string source;  // file: where to read the bytes (an object in the cache)
  // The cache's door when `source` is in the cache (always, from model_entries): the object
  // is opened through it, never through a link. Outlives the entry (the caller's layout).
  const CacheDoor* door = nullptr;
  std::string data;   // file without source: the bytes themselves (lock, refs)
  std::string link;   // symlink: target relative to the link's folder; hardlink: entry path
  std::string label;  // "model:path" of the locked file, for messages (may be empty)
};

// "bert:model.safetensors (models/bert/model.safetensors)" for messages.
std::string describe(const Entry& e);

// "a" + "b/c" -> "a/b/c"; an empty prefix leaves `rel` unchanged.
std::string join_prefix(std::string_view prefix, std::string_view rel);

// Normalises a user prefix ("/models/" -> "models"); "" and "/" mean the bundle root.
Result<std::string> normalize_prefix(std::string_view prefix);

// Entries of one model below `prefix` (no directories yet). Content comes from the objects
// of `cache`. Hub: blobs/<etag> files, snapshots/<commit>/<path> relative symlinks and
// refs/<revision>; flat: <name>/<path> files.
std::vector<Entry> model_entries(const LockedModel& m, const CacheLayout& cache, Layout layout,
                                 std::string_view prefix);

// <prefix>/modelbake.lock holding the canonical serialisation of `lock`.
Entry lock_entry(const Lockfile& lock, std::string_view prefix);

// Sorts by byte-wise path, adds every missing parent directory, merges identical
// duplicates (two models of one repo share blobs/ and refs/) and fails (usage) on conflicting
// ones. With `hardlink_duplicates`, a file whose content (sha256) already appeared earlier in
// the sorted order becomes a hardlink entry to that first path.
Result<std::vector<Entry>> finalize_entries(std::vector<Entry> entries, bool hardlink_duplicates);

// The full plan of a bundle: every model plus the lock, finalized.
Result<std::vector<Entry>> bundle_entries(const Lockfile& lock, const CacheLayout& cache,
                                          Layout layout, std::string_view prefix,
                                          bool hardlink_duplicates);

}  // namespace mb::bundle
