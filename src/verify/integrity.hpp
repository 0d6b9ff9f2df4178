// Integrity of a cache or a flat bundle against a lock: is every locked file present, reachable
// the way huggingface_hub resolves it offline, and byte-for-byte the locked content?
//
// Shared by `modelbake verify`/`status` and by modelbake-verify (so it only uses core, lock,
// store, OpenSSL and std). Nothing here touches the network. Hashing runs on a pool of threads
// (one file per task, each file read once as one stream computing sha256 and, where the lock's
// etag is a git blob sha1, the git sha1 in the same pass).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/hash.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::verify {

enum class FindingKind {
  missing_ref,        // refs/<revision> absent (revision is a branch/tag)
  wrong_ref,          // refs/<revision> holds another commit (or garbage)
  ref_newline,        // refs/<revision> is the commit plus whitespace: Python reads it unstripped
  missing_snapshot,   // snapshots/<commit>/ (or the bundle's model folder) absent
  missing_file,       // snapshots/<commit>/<path> absent
  dangling_link,      // symlink chain ends nowhere (blob missing)
  escaping_link,      // symlink chain leaves the cache/bundle root
  not_regular_file,   // resolves to a directory, device, fifo...
  size_mismatch,      // resolved file has the wrong size
  digest_mismatch,    // sha256 differs from the lock
  git_sha1_mismatch,  // git blob sha1 differs from the lock's etag
  stale_trees_file,   // trees/<commit>.json lists files absent from the snapshot
  unreadable,         // I/O error while reading (permissions, EIO)
  unexpected_entry,   // snapshot entry that is a leftover temp or a link to nothing usable
  planted_entry,      // a folder of the model (repo, blobs, snapshots, refs, trees, the
                      // snapshot) is a link, FIFO or file: nothing below it is read
};

const char* to_string(FindingKind kind);

struct Finding {
  FindingKind kind = FindingKind::missing_file;
  std::string model;     // lock entry name (`as:`)
  std::string repo;      // "org/name"
  std::string path;      // repo-relative file path; empty for ref/snapshot/trees findings
  std::string location;  // absolute path on disk of the offending entry
  std::string expected;  // e.g. locked sha256, size, commit
  std::string actual;    // what was found ("" when absent)
  std::string message;   // one line, precise, for humans
  std::string fix;       // what to run, e.g. "modelbake fetch --locked"
};

struct VerifyOptions {
  bool fast = false;                // sizes and layout only, no hashing
  unsigned threads = 0;             // 0: std::thread::hardware_concurrency()
  std::vector<std::string> models;  // lock entry names to check; empty: all
  // The fix suggested in findings (the CLI uses "modelbake fetch --locked"; modelbake-verify
  // may prefer a rebuild hint).
  std::string fix_hint = "modelbake fetch --locked";
  // Optional progress callback, called from worker threads with cumulative bytes hashed.
  std::function<void(uint64_t bytes_done, uint64_t bytes_total)> progress;
};

struct ModelResult {
  std::string name;
  std::string repo;
  std::string revision;
  std::string commit;
  uint64_t files = 0;     // files in the lock for this model
  uint64_t bytes = 0;     // locked bytes
  uint64_t files_ok = 0;  // files that passed every check
  size_t findings = 0;    // number of findings for this model
  bool present = false;   // snapshot folder (or model folder) exists
  bool ready() const { return findings == 0; }
};

struct VerifyReport {
  std::vector<Finding> findings;  // sorted by model, then path, then kind
  std::vector<ModelResult> models;
  uint64_t files_checked = 0;
  uint64_t bytes_locked = 0;  // sum of locked sizes of the checked files
  uint64_t bytes_hashed = 0;  // 0 with fast
  bool hashed = false;        // false with fast
  bool ok() const { return findings.empty(); }
};

// Checks a hub-compatible cache (refs, snapshots, blobs, trees) against the lock.
// Fails (Result error) only for unusable input (unknown model name in the filter, unreadable
// cache root); every problem with the cache itself is a Finding.
Result<VerifyReport> verify_cache(const CacheLayout& cache, const Lockfile& lock,
                                  const VerifyOptions& options);

// Checks one flat model folder (`<root>/<path>` regular files, or symlinks resolving inside
// `root`) against one locked model. No refs/trees checks.
Result<VerifyReport> verify_flat_dir(const std::string& root, const LockedModel& model,
                                     const VerifyOptions& options);

// Building block: hash many files in parallel (largest first, one file per task).
// results[i] belongs to jobs[i]; a file that cannot be read yields an error in its slot.
struct HashJob {
  std::string path;            // with `door`: a path below its root, opened through it
  uint64_t expected_size = 0;  // for scheduling and progress accounting
  bool want_git_sha1 = false;
  const CacheDoor* door = nullptr;
};
std::vector<Result<FileDigests>> hash_files_parallel(
    const std::vector<HashJob>& jobs, unsigned threads,
    const std::function<void(uint64_t bytes_done, uint64_t bytes_total)>& progress = {});

}  // namespace mb::verify
