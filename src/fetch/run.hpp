// `modelbake lock`, `modelbake fetch` and the hub half of `verify --repair`, each one call:
// load the manifest and the lock, decide what the run needs (offline mode, locking again, a
// complete cache that needs no request), run the engine and return what happened. The CLI
// parses flags, draws the progress this run counts, and renders the returned RunOutcome
// (human or --json); the exit code follows from the outcome's error category.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/engine.hpp"
#include "fetch/hub_setup.hpp"
#include "fetch/progress.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::fetch {

struct RunRequest {
  std::string manifest_path;
  std::string lock_path;
  std::string cache_dir;
  bool locked = false;   // fetch --locked: the lock exactly as it is, or refuse (exit 2)
  FetchOptions options;  // jobs and ranges; download retries follow hub.retries
  HubSettings hub;       // the manifest's `endpoint:` is added by the run
};

// What a run takes from its caller.
struct RunDeps {
  const Env& env;
  Clock& clock;
  Progress* progress = nullptr;  // counted for the caller's display; may be null
  // Opens the hub; called at most once per run, and only when a request must be sent.
  // Empty: open_hub(env, clock, settings). Tests pass a scripted hub.
  std::function<Result<Hub>(const HubSettings&)> connect;
  // fetch --from: puts what a registry has of the lock into the store before the hub is
  // asked for the rest. Empty: no registry. Never called in offline mode.
  std::function<Status(const Lockfile&)> prefill;
};

struct RunOutcome {
  std::string lock_path;
  Lockfile lock;                 // the lock fetched, written or kept
  bool relocked = false;         // this run resolved the manifest and wrote lock_path
  std::string kept_offline;      // lock in offline mode: the setting ("HF_HUB_OFFLINE=1") under
                                 // which the matching lock was kept as it is
  FetchReport report;            // what the engine did (locking downloads merged in)
  double seconds = 0;            // duration of the run
  std::optional<Error> failure;  // fetch: the files in report.errors failed; every model not
                                 // in report.incomplete_models is complete
  int exit_code() const { return failure ? exit_code_for(failure->category) : 0; }
};

// `modelbake lock`: resolve the manifest and write the lock. In offline mode a lock that
// already matches the manifest is kept (no request); anything else needs the hub.
Result<RunOutcome> run_lock(const RunRequest& request, RunDeps& deps);

// `modelbake fetch`: every locked file in the cache, verified; locks again first when the
// lock is missing or out of date (unless request.locked, which refuses that). A lock whose
// every object is in the store sends no request. A failed file does not stop the other
// models: that is a RunOutcome with `failure`, not an error.
Result<RunOutcome> run_fetch(const RunRequest& request, RunDeps& deps);

// `verify --repair`: downloads the missing files of the lock entries `models` (by name) into
// `store`; the rest of the lock is not touched. The manifest (request.manifest_path) only
// provides its endpoint; an unreadable manifest is ignored.
Status fetch_models(const Store& store, const Lockfile& lock, const std::set<std::string>& models,
                    const RunRequest& request, RunDeps& deps);

// One line naming a failed file: the error message, prefixed "<repo>: <path>: " unless the
// message names the file already.
std::string describe_failure(const FileFailure& failure);

// Whether the run completed model `name` (it is not in report.incomplete_models).
bool model_complete(const FetchReport& report, const std::string& name);

}  // namespace mb::fetch
