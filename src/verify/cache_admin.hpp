// Cache inventory and maintenance: ls, du, gc, rm. Everything that deletes takes the cache lock
// exclusive (writers hold it shared for their whole run), so nothing a fetch, import or pull is
// in the middle of adopting or linking can disappear. A revision is evicted ref first, then its
// snapshot folder is renamed away in one step and deleted, so a half-evicted revision never
// looks ready to a loader.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::verify {

struct RevisionInfo {
  std::string commit;
  std::vector<std::string> refs;  // names in refs/ pointing at this commit
  uint64_t files = 0;
  uint64_t bytes = 0;      // apparent size of the files the snapshot resolves to
  int64_t fetched_at = 0;  // unix seconds from <private>/meta, 0 when unknown
  int64_t last_used = 0;   // same; falls back to the snapshot folder's mtime
};

struct RepoInfo {
  RepoType type = RepoType::model;
  std::string repo;                     // "org/name"
  std::string folder;                   // "models--org--name"
  std::vector<RevisionInfo> revisions;  // sorted by commit
  uint64_t blob_bytes = 0;              // apparent size of blobs/ (each inode once)
};

// Every repo folder of the cache (hidden folders and foreign entries are skipped).
Result<std::vector<RepoInfo>> scan_cache(const CacheLayout& cache);

struct DiskUsage {
  uint64_t disk_bytes = 0;      // allocated blocks, each inode counted once
  uint64_t apparent_bytes = 0;  // file sizes, each inode counted once
  uint64_t linked_bytes = 0;    // file sizes counting every hard link (what naive tools add up)
  uint64_t files = 0;           // distinct inodes
  uint64_t temp_bytes = 0;      // <private>/tmp and *.incomplete
};
Result<DiskUsage> disk_usage(const CacheLayout& cache);

// (type, repo, commit) that gc must never evict.
using PinSet = std::set<std::tuple<RepoType, std::string, std::string>>;
PinSet pins_of(const Lockfile& lock);

struct GcOptions {
  bool dry_run = false;
  std::optional<uint64_t> max_size;  // evict LRU unpinned revisions until disk use <= this
  PinSet pins;
  int64_t now = 0;                   // unix seconds (injected clock)
  int64_t temp_max_age = 24 * 3600;  // temp/.incomplete files older than this are swept
};

enum class GcActionKind {
  stale_temp,
  evict_revision,
  dangling_ref,
  unreferenced_blob,
  orphan_object,
  xet_index  // the Xet chunk index of a removed (or already absent) object
};
const char* to_string(GcActionKind k);

struct GcAction {
  GcActionKind kind = GcActionKind::unreferenced_blob;
  std::string path;
  std::string repo;    // empty for objects and temp files
  std::string commit;  // for evictions
  uint64_t bytes = 0;  // disk bytes freed by this action (0 when the inode stays in use)
};

struct GcReport {
  std::vector<GcAction> actions;
  uint64_t disk_before = 0;
  uint64_t disk_after = 0;            // projected when dry_run
  bool limit_reached = true;          // false when pins keep the cache above max_size
  std::vector<std::string> warnings;  // what was skipped and why (planted links)
};

// Takes the cache lock exclusive for its whole run.
Result<GcReport> gc_cache(const Store& store, const GcOptions& options);

// Removes a repo (revision empty) or one revision (branch, tag or commit) and then the blobs
// and objects nothing references any more. Takes the cache lock exclusive.
Result<GcReport> remove_repo(const Store& store, RepoType type, const std::string& repo,
                             const std::string& revision, int64_t now);

// What `modelbake rm` takes: "REPO" or "REPO@REVISION" (the revision empty for a whole repo).
struct RepoTarget {
  std::string repo;
  std::string revision;
};
// "org/name@" (an empty revision) is a usage error.
Result<RepoTarget> parse_repo_target(const std::string& text);

}  // namespace mb::verify
