#include "fetch/run.hpp"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "core/log.hpp"
#include "fetch/locker.hpp"
#include "hub/config.hpp"
#include "manifest/manifest.hpp"

namespace mb::fetch {

namespace {

// The request's hub settings with the manifest's `endpoint:` (when it has one), and the engine
// options whose download retries follow them: one rule for lock, fetch and verify --repair.
HubSettings settings_with(const RunRequest& request, const std::string& manifest_endpoint) {
  HubSettings h = request.hub;
  if (!manifest_endpoint.empty()) h.manifest_endpoint = manifest_endpoint;
  return h;
}
FetchOptions options_with(const RunRequest& request, const HubSettings& h, const Env& env) {
  FetchOptions o = request.options;
  apply_retries(h, o);
  apply_xet_setting(env, o);
  return o;
}

Result<Hub> connect(RunDeps& deps, const HubSettings& h) {
  if (!deps.connect) return open_hub(deps.env, deps.clock, h);
  // A replaced connection is refused for the same reasons (offline mode, bad endpoint/token).
  MB_TRY(hub_client_options(deps.env, h));
  return deps.connect(h);
}

// Everything one lock or fetch run holds; the hub is opened on first use only.
struct Session {
  const RunRequest& request;
  RunDeps& deps;
  Clock::TimePoint start;
  Manifest manifest;
  std::optional<Lockfile> lock;  // as read from disk
  std::optional<Store> store;
  FileLock cache_lock;
  std::optional<Hub> hub;

  Session(const RunRequest& r, RunDeps& d) : request(r), deps(d), start(d.clock.now()) {}

  HubSettings hub_settings() const { return settings_with(request, manifest.endpoint); }
  Status load_inputs() {
    MB_ASSIGN(manifest, load_manifest(request.manifest_path));
    std::error_code ec;
    if (std::filesystem::exists(request.lock_path, ec)) {
      MB_ASSIGN(Lockfile l, read_lock(request.lock_path));
      lock = std::move(l);
    }
    return {};
  }
  bool lock_is_current() const { return lock && lock_matches_manifest(manifest, *lock).ok(); }
  Status open_cache() {
    store.emplace(CacheLayout(request.cache_dir));
    MB_TRY(store->init());
    // Shared: concurrent fetches may run; gc/rm (exclusive) wait for us.
    MB_ASSIGN(cache_lock, store->lock_cache(LockMode::shared));
    return {};
  }
  Result<Hub*> net() {
    if (!hub) {
      MB_ASSIGN(Hub opened, connect(deps, hub_settings()));
      hub.emplace(std::move(opened));
    }
    return &*hub;
  }
  // The engine over the store and, if opened, the hub (without it: disk only).
  Engine& make_engine(std::optional<Engine>& engine) {
    Hub* h = hub ? &*hub : nullptr;
    return engine.emplace(*store, h ? h->client.get() : nullptr, h ? h->transport.get() : nullptr,
                          deps.clock, options_with(request, hub_settings(), deps.env),
                          deps.progress);
  }
  RunOutcome outcome(Lockfile l, bool relocked) const {
    RunOutcome o;
    o.lock_path = request.lock_path;
    o.lock = std::move(l);
    o.relocked = relocked;
    o.seconds = std::chrono::duration<double>(deps.clock.now() - start).count();
    return o;
  }
};

// An unreadable old lock does not stop a run that locks again (it is about to be replaced);
// an unreadable manifest always does.
Status tolerate_unreadable_lock(const Session& s, Status loaded, bool lock_needed_as_is) {
  if (loaded.ok()) return {};
  if (lock_needed_as_is || s.manifest.models.empty()) return loaded;
  log::warn("ignoring unreadable lock: " + loaded.error().message);
  return {};
}

Error needs_lock_error(const Session& s, const std::string& offline) {
  return offline_error(offline,
                       std::string(s.lock ? "modelbake.lock does not match the manifest"
                                          : "there is no modelbake.lock") +
                           " and locking needs the hub",
                       "run `modelbake lock` where the hub is reachable and commit modelbake.lock");
}

// With `refused` given (fetch), models the hub refuses for lack of access are left out of the
// returned lock, which is then not written (it would be incomplete): the caller completes the
// other models and fails with the access error.
Result<Lockfile> relock(Session& s, Engine& engine, FetchReport& report,
                        std::vector<Error>* refused = nullptr) {
  MB_ASSIGN(Hub * h, s.net());
  const Lockfile* previous = s.lock ? &*s.lock : nullptr;
  MB_ASSIGN(Lockfile lock,
            create_lock(s.manifest, previous, *h->client, *s.store, engine, report, refused));
  if (refused != nullptr && !refused->empty()) return lock;
  MB_TRY(write_lock(s.request.lock_path, lock));
  log::debug("wrote " + s.request.lock_path);
  return lock;
}

// fetch --locked: the lock must exist and match the manifest. Otherwise: whether to lock again.
Result<bool> need_to_lock(const Session& s) {
  if (!s.request.locked) return !s.lock_is_current();
  const std::string& path = s.request.lock_path;
  if (!s.lock) {
    return fail(ErrorCategory::usage, "--locked: no lock file at " + path,
                "run `modelbake lock` and commit modelbake.lock");
  }
  if (Status st = lock_matches_manifest(s.manifest, *s.lock); !st.ok()) {
    Error e =
        st.error().with_context("--locked: " + path + " does not match " + s.request.manifest_path);
    if (e.hint.empty()) e.hint = "run `modelbake lock` to update the lock";
    return e;
  }
  return false;
}

// Offline mode with a current lock: every locked file must be in the cache already.
Status check_offline_complete(const Session& s, const std::string& offline) {
  std::string names;
  size_t count = 0;
  for (const LockedModel& m : s.lock->models) {
    for (const LockedFile* f : missing_files(*s.store, m)) {
      if (++count <= 5) names += (names.empty() ? "" : ", ") + m.name + ": " + f->path;
    }
  }
  if (count == 0) return {};
  if (count > 5) names += ", ...";
  // An object that is there but is a link or a FIFO was planted: say which.
  for (const LockedModel& m : s.lock->models) {
    for (const LockedFile* f : missing_files(*s.store, m)) {
      std::string obj = s.store->layout().object_path(f->sha256);
      auto st = s.store->layout().door().lstat(obj);
      if (!st.ok()) return st.take_error();
      if (*st)
        names += "; " + obj + " is not a regular file (" + file_kind_name((*st)->st_mode) + ")";
    }
  }
  return offline_error(offline,
                       std::to_string(count) + " locked file(s) are not in the cache " +
                           s.request.cache_dir + " (" + names + ")",
                       "fetch them where the hub is reachable (or `modelbake import` a bundle)");
}

bool cache_complete(const Store& store, const Lockfile& lock) {
  return std::all_of(lock.models.begin(), lock.models.end(),
                     [&](const LockedModel& m) { return missing_files(store, m).empty(); });
}

// The lock to fetch: resolved again (then prefilled), or the current one (prefilled, then
// the hub is opened only if something is still missing).
Result<Lockfile> lock_for_fetch(Session& s, bool need_lock, bool offline, FetchReport& locking,
                                std::optional<Engine>& engine, std::vector<Error>& refused) {
  if (need_lock) {
    MB_TRY(s.net());
    Engine& e = s.make_engine(engine);
    if (s.lock) log::info("the lock does not match the manifest; locking again");
    MB_ASSIGN(Lockfile fresh, relock(s, e, locking, &refused));
    if (s.deps.prefill) MB_TRY(s.deps.prefill(fresh));
    return fresh;
  }
  if (s.deps.prefill && !offline) MB_TRY(s.deps.prefill(*s.lock));
  // A lock whose every object is in the store is served from disk alone: no transport is
  // created, so not a single request leaves the machine.
  if (!cache_complete(*s.store, *s.lock)) MB_TRY(s.net());
  s.make_engine(engine);
  return *s.lock;
}

}  // namespace

Result<RunOutcome> run_lock(const RunRequest& request, RunDeps& deps) {
  Session s(request, deps);
  MB_TRY(tolerate_unreadable_lock(s, s.load_inputs(), false));
  if (auto offline = hub::offline_setting(deps.env)) {
    // Nothing can be resolved: a lock that matches the manifest is kept as it is.
    if (!s.lock_is_current()) return needs_lock_error(s, *offline);
    RunOutcome o = s.outcome(*s.lock, false);
    o.kept_offline = *offline;
    return o;
  }
  MB_TRY(s.open_cache());
  MB_TRY(s.net());
  std::optional<Engine> engine;
  FetchReport report;
  MB_ASSIGN(Lockfile lock, relock(s, s.make_engine(engine), report));
  RunOutcome o = s.outcome(std::move(lock), true);
  o.report = std::move(report);
  return o;
}

Result<RunOutcome> run_fetch(const RunRequest& request, RunDeps& deps) {
  Session s(request, deps);
  // A damaged lock is fatal for --locked; otherwise fetch locks again over it.
  MB_TRY(tolerate_unreadable_lock(s, s.load_inputs(), request.locked));
  MB_ASSIGN(bool need_lock, need_to_lock(s));
  // Refused before anything reads the lock's claims (registry prefill included); the engine
  // checks again whatever lock it is given.
  if (!need_lock) MB_TRY(check_lock_consistency(*s.lock));
  const std::optional<std::string> offline = hub::offline_setting(deps.env);
  if (offline && need_lock) return needs_lock_error(s, *offline);
  MB_TRY(s.open_cache());
  if (offline) MB_TRY(check_offline_complete(s, *offline));
  FetchReport locking;
  std::optional<Engine> engine;
  std::vector<Error> refused;
  MB_ASSIGN(Lockfile lock,
            lock_for_fetch(s, need_lock, offline.has_value(), locking, engine, refused));
  // Regular files fetched while locking are found in the store by the fetch below.
  FetchReport report;
  Status st = engine->fetch(lock, report);
  if (!refused.empty()) {
    // Every model the hub let us lock is complete now (refs, snapshot links) whatever it
    // refused elsewhere; the run fails with the access error and writes no partial lock.
    Error e = refused.front();
    if (refused.size() > 1) e.message += " (and " + std::to_string(refused.size() - 1) + " more)";
    if (!st.ok()) e.message += "; also: " + st.error().message;
    return e;
  }
  merge_locking_report(locking, report);
  // An error that names no file (a refused lock, an unusable store) is the run's error.
  if (!st.ok() && report.errors.empty()) return st.error();
  RunOutcome o = s.outcome(std::move(lock), need_lock);
  o.report = std::move(report);
  if (!st.ok()) o.failure = st.error();
  return o;
}

Status fetch_models(const Store& store, const Lockfile& lock, const std::set<std::string>& models,
                    const RunRequest& request, RunDeps& deps) {
  Lockfile sub;
  for (const LockedModel& m : lock.models) {
    if (models.count(m.name)) sub.models.push_back(m);
  }
  auto manifest = load_manifest(request.manifest_path);  // only for its endpoint
  HubSettings h = settings_with(request, manifest.ok() ? manifest->endpoint : std::string());
  h.offline_what = std::to_string(models.size()) + " model(s) need content from the hub";
  h.offline_hint = "run `modelbake verify --repair` where the hub is reachable";
  MB_ASSIGN(Hub hub, connect(deps, h));
  Engine engine(store, hub.client.get(), hub.transport.get(), deps.clock,
                options_with(request, h, deps.env), deps.progress);
  FetchReport report;
  return engine.fetch(sub, report);
}

std::string describe_failure(const FileFailure& f) {
  std::string label = f.repo + ": " + f.path;
  bool named = f.error.message.find(label) != std::string::npos;
  return named ? f.error.message : label + ": " + f.error.message;
}

bool model_complete(const FetchReport& report, const std::string& name) {
  const auto& v = report.incomplete_models;
  return std::find(v.begin(), v.end(), name) == v.end();
}

}  // namespace mb::fetch
