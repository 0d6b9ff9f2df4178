// `modelbake verify` (with --repair) as one call: read the lock, check the cache, repair what
// the object store can restore, have the caller fetch the rest, check again. Never reaches
// the network itself: the hub half of --repair is passed in (cli passes fetch::fetch_models).
// The CLI renders the returned VerifyOutcome (human or --json); its exit code is 0 or 1.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"
#include "verify/integrity.hpp"

namespace mb::verify {

struct VerifyRequest {
  std::string lock_path;
  std::string cache_dir;  // made absolute by the run
  VerifyOptions options;
  bool repair = false;
};

// Gets the missing files of the lock entries `models` (by name) into `store`.
using RepairFetch = std::function<Status(const Store& store, const Lockfile& lock,
                                         const std::set<std::string>& models)>;

struct RepairSummary {
  std::vector<Finding> repaired;  // the findings before the repair
  std::vector<std::string> removed;
  std::vector<std::string> restored;
  std::set<std::string> fetched_models;  // handed to the RepairFetch
};

struct VerifyOutcome {
  std::string cache;                    // absolute cache root
  VerifyReport report;                  // after the repair, if one ran
  std::optional<RepairSummary> repair;  // set when --repair found something to repair
  int exit_code() const { return report.ok() ? 0 : 1; }
};

// The lock at `path`; a hint says how to get one when it cannot be read.
Result<Lockfile> load_lock(const std::string& path);

// `fetch` may be empty when request.repair is false.
Result<VerifyOutcome> run_verify(const VerifyRequest& request, const RepairFetch& fetch);

}  // namespace mb::verify
