// The state `modelbake status` reports for each wanted model: ready, missing, corrupt or
// stale-lock. verify cannot read the manifest (it sits in mb_base, below manifest), so the
// caller says what it wants and how to tell whether a lock entry is still the lock of it
// (cli passes manifest's `lock_entry_difference`, the same rule `fetch --locked` applies).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/layout.hpp"

namespace mb::verify {

enum class ModelState { ready, missing, corrupt, stale_lock };
const char* to_string(ModelState s);  // "ready", "missing", "corrupt", "stale-lock"

// One model the manifest asks for.
struct StatusRequest {
  std::string name;  // lock entry name
  std::string repo, revision;
  // Why a lock entry no longer matches the request, "" when it still does.
  std::function<std::string(const LockedModel&)> lock_difference;
};

struct StatusEntry {
  std::string name, repo, revision, commit;
  std::string renamed_to;  // from the lock: the hub's new id of a renamed repo
  uint64_t files = 0;
  uint64_t bytes = 0;
  ModelState state = ModelState::missing;
  std::string detail;  // first finding or why the lock is stale
  int64_t fetched_at = 0;
  int64_t last_used = 0;
};

// `lock` may be null (no lock file: every model is stale-lock). `full` hashes every file;
// otherwise sizes and layout only. Reads the cache, never writes it.
Result<std::vector<StatusEntry>> compute_status(const std::vector<StatusRequest>& wanted,
                                                const Lockfile* lock, const CacheLayout& cache,
                                                bool full);

struct StatusOutcome {
  std::string cache;  // absolute cache root
  std::vector<StatusEntry> entries;
  bool ready() const;  // every entry is ready
  int exit_code() const { return ready() ? 0 : 1; }
};

// `modelbake status` as one call: the lock at `lock_path` (none is a state, stale-lock; one
// that exists but cannot be read is an error) against the cache at `cache_dir`.
Result<StatusOutcome> run_status(const std::vector<StatusRequest>& wanted,
                                 const std::string& lock_path, const std::string& cache_dir,
                                 bool full);

}  // namespace mb::verify
