// `modelbake lock` and `modelbake fetch` (docs/fetch.md).
#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>

#include "app/version.hpp"
#include "cli/app.hpp"
#include "cli/progress_display.hpp"
#include "core/log.hpp"
#include "fetch/engine.hpp"
#include "fetch/hub_setup.hpp"
#include "fetch/locker.hpp"
#include "hub/client.hpp"
#include "hub/config.hpp"
#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"
#include "net/curl_transport.hpp"
#include "store/store.hpp"

namespace mb::cli {

namespace {

struct FetchFlags {
  bool locked = false;
  int jobs = 8;
  int connections = 8;
  uint64_t range_threshold = 64ull << 20;
  uint64_t min_chunk = 8ull << 20;
  int retries = 5;
  int metadata_timeout = 60;  // seconds
  RegistrySource from;        // fetch --from: registry first, hub for the rest
};

void add_tuning_options(CLI::App* cmd, FetchFlags& f) {
  cmd->add_option("-j,--jobs", f.jobs, "Files downloaded at once (default 8)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--connections", f.connections, "Parallel ranges per big file (default 8)")
      ->check(CLI::Range(1, 32));
  cmd->add_option(
      "--range-threshold", f.range_threshold,
      "Files larger than this many bytes are fetched as parallel ranges (default 64 MiB)");
  cmd->add_option("--chunk-size", f.min_chunk, "Smallest range piece in bytes (default 8 MiB)")
      ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 34));
  cmd->add_option(
         "--retries", f.retries,
         "Retries of a failed request (timeouts, resets, 408/429/5xx) with backoff (default 5)")
      ->check(CLI::Range(0, 20));
  cmd->add_option("--metadata-timeout", f.metadata_timeout,
                  "Deadline in seconds of each hub API call and metadata request (default 60)")
      ->check(CLI::Range(1, 3600));
}

// The hub set-up shared with `verify --repair` (cli::hub_settings, fetch::open_hub).
fetch::HubSettings hub_settings(const Context& ctx, const Manifest& manifest, const FetchFlags& f) {
  return cli::hub_settings(ctx, manifest.endpoint, f.retries, f.metadata_timeout);
}

using fetch::offline_error;

// The lock's files that are not in the cache, as "model: path" (at most `limit` named).
std::string describe_missing(const Store& store, const Lockfile& lock, size_t& count) {
  std::string names;
  count = 0;
  for (const LockedModel& m : lock.models) {
    for (const LockedFile* f : fetch::missing_files(store, m)) {
      if (++count <= 5) names += (names.empty() ? "" : ", ") + m.name + ": " + f->path;
    }
  }
  if (count > 5) names += ", ...";
  return names;
}

fetch::FetchOptions engine_options(const Context& ctx, const Manifest& manifest,
                                   const FetchFlags& f) {
  fetch::FetchOptions o;
  o.jobs = f.jobs;
  o.download.connections = f.connections;
  o.download.range_threshold = f.range_threshold;
  o.download.min_chunk = f.min_chunk;
  fetch::apply_retries(hub_settings(ctx, manifest, f), o);
  return o;
}

bool listed(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

nlohmann::ordered_json models_json(const Lockfile& lock, const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const LockedModel& m : lock.models) {
    out.push_back({{"name", m.name},
                   {"repo", m.repo},
                   {"renamed_to", m.renamed_to.empty() ? nlohmann::ordered_json()
                                                       : nlohmann::ordered_json(m.renamed_to)},
                   {"type", to_string(m.type)},
                   {"revision", m.revision},
                   {"commit", m.commit},
                   {"files", m.files.size()},
                   {"bytes", m.total_bytes()},
                   {"complete", !listed(r.incomplete_models, m.name)}});
  }
  return out;
}

nlohmann::ordered_json failures_json(const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const fetch::FileFailure& f : r.errors) {
    out.push_back({{"model", f.model},
                   {"repo", f.repo},
                   {"path", f.path},
                   {"category", to_string(f.error.category)},
                   {"message", log::redact(f.error.message)},
                   {"hint", log::redact(f.error.hint)},
                   {"exit_code", exit_code_for(f.error.category)}});
  }
  return out;
}

nlohmann::ordered_json retries_json(const fetch::FetchReport& r) {
  auto out = nlohmann::ordered_json::array();
  for (const fetch::RetryNote& n : r.retries) {
    out.push_back({{"model", n.model},
                   {"repo", n.repo},
                   {"path", n.path},
                   {"kind", "digest_mismatch"},
                   {"attempt", n.attempt},
                   {"message", log::redact(n.reason)}});
  }
  return out;
}

nlohmann::ordered_json result_json(const char* command, const std::string& lock_path,
                                   const Lockfile& lock, bool relocked, const fetch::FetchReport& r,
                                   double seconds) {
  nlohmann::ordered_json doc;
  doc["ok"] = r.errors.empty();
  doc["command"] = command;
  doc["lock"] = lock_path;
  doc["locked"] = relocked;
  doc["models"] = models_json(lock, r);
  doc["files"] = {
      {"total", r.files_total}, {"downloaded", r.files_downloaded}, {"reused", r.files_reused}};
  doc["bytes"] = {{"downloaded", r.bytes_downloaded},
                  {"reused", r.bytes_reused},
                  {"network", r.network_bytes},
                  {"resumed", r.resumed_bytes}};
  doc["duration_seconds"] = seconds;
  doc["errors"] = failures_json(r);
  doc["retries"] = retries_json(r);
  return doc;
}

double seconds_since(const Context& ctx, Clock::TimePoint start) {
  return std::chrono::duration<double>(ctx.clock.now() - start).count();
}

struct Session {
  Context& ctx;
  Manifest manifest;
  std::optional<Lockfile> lock;  // as read from disk
  std::optional<Store> store;
  FileLock cache_lock;
  fetch::Progress progress;
  std::optional<fetch::Hub> network;
  const FetchFlags& flags;

  Status open_cache() {
    store.emplace(CacheLayout(ctx.cache_dir()));
    MB_TRY(store->init());
    // Shared: concurrent fetches may run; gc/rm (exclusive) wait for us.
    MB_ASSIGN(cache_lock, store->lock_cache(LockMode::shared));
    return {};
  }
  Result<fetch::Hub*> net() {
    if (!network) {
      MB_ASSIGN(fetch::Hub n,
                fetch::open_hub(ctx.env, ctx.clock, hub_settings(ctx, manifest, flags)));
      network.emplace(std::move(n));
    }
    return &*network;
  }
};

Status load_inputs(Session& s) {
  MB_ASSIGN(s.manifest, load_manifest(s.ctx.opts.manifest));
  std::string lock_path = s.ctx.lock_path();
  std::error_code ec;
  if (std::filesystem::exists(lock_path, ec)) {
    MB_ASSIGN(Lockfile lock, read_lock(lock_path));
    s.lock = std::move(lock);
  }
  return {};
}

Result<Lockfile> relock(Session& s, fetch::Engine& engine, fetch::FetchReport& report) {
  MB_ASSIGN(fetch::Hub * n, s.net());
  const Lockfile* previous = s.lock ? &*s.lock : nullptr;
  MB_ASSIGN(Lockfile lock,
            fetch::create_lock(s.manifest, previous, *n->client, *s.store, engine, report));
  MB_TRY(write_lock(s.ctx.lock_path(), lock));
  log::debug("wrote " + s.ctx.lock_path());
  return lock;
}

Error needs_lock_error(const Session& s, const std::string& offline) {
  return offline_error(offline,
                       std::string(s.lock ? "modelbake.lock does not match the manifest"
                                          : "there is no modelbake.lock") +
                           " and locking needs the hub",
                       "run `modelbake lock` where the hub is reachable and commit modelbake.lock");
}

// `lock` in offline mode: nothing can be resolved, so a lock that already matches the
// manifest is kept as it is (success, no request); anything else needs the hub.
int lock_offline(Context& ctx, const Session& s, const std::string& offline,
                 Clock::TimePoint start) {
  if (!s.lock || !lock_matches_manifest(s.manifest, *s.lock).ok()) {
    return report_error(ctx, needs_lock_error(s, offline));
  }
  if (ctx.opts.json) {
    print_json(result_json("lock", ctx.lock_path(), *s.lock, false, fetch::FetchReport{},
                           seconds_since(ctx, start)));
  } else {
    say(ctx, "offline (" + offline + "): " + ctx.lock_path() +
                 " already matches the manifest; kept as it is");
  }
  return 0;
}

int run_lock(Context& ctx, const FetchFlags& flags) {
  auto start = ctx.clock.now();
  Session s{ctx, {}, {}, {}, {}, {}, {}, flags};
  if (Status st = load_inputs(s); !st.ok()) {
    // An unreadable old lock does not stop `lock`: it is about to be replaced.
    if (s.manifest.models.empty()) return report_error(ctx, st.error());
    log::warn("ignoring unreadable lock: " + st.error().message);
  }
  if (auto offline = hub::offline_setting(ctx.env)) return lock_offline(ctx, s, *offline, start);
  if (Status st = s.open_cache(); !st.ok()) return report_error(ctx, st.error());
  auto n = s.net();
  if (!n.ok()) return report_error(ctx, n.error());
  ProgressDisplay display(s.progress, ctx.clock, ctx.show_progress(),
                          ctx.opts.quiet || ctx.opts.json);
  fetch::Engine engine(*s.store, (*n)->client.get(), (*n)->transport.get(), ctx.clock,
                       engine_options(ctx, s.manifest, flags), &s.progress);
  fetch::FetchReport report;
  auto lock = relock(s, engine, report);
  display.stop();
  if (!lock.ok()) return report_error(ctx, lock.error());
  if (ctx.opts.json) {
    print_json(
        result_json("lock", ctx.lock_path(), *lock, true, report, seconds_since(ctx, start)));
  } else {
    for (const LockedModel& m : lock->models) {
      say(ctx, "locked " + m.name + ": " + m.repo +
                   (m.renamed_to.empty() ? "" : " (renamed to " + m.renamed_to + ")") + "@" +
                   m.revision + " -> " + m.commit + " (" + std::to_string(m.files.size()) +
                   " files, " + fetch::format_bytes(m.total_bytes()) + ")");
    }
    say(ctx, "wrote " + ctx.lock_path());
  }
  return 0;
}

bool cache_complete(const Store& store, const Lockfile& lock) {
  for (const LockedModel& m : lock.models) {
    if (!fetch::missing_files(store, m).empty()) return false;
  }
  return true;
}

int print_outcome(Context& ctx, const Lockfile& lock, bool relocked,
                  const fetch::FetchReport& report, const Status& st, double seconds) {
  auto doc = [&] { return result_json("fetch", ctx.lock_path(), lock, relocked, report, seconds); };
  if (!st.ok()) {
    if (report.errors.empty()) return report_error(ctx, st.error());
    // Some files failed: the models that are complete were completed; say which is which.
    if (!ctx.opts.json) {
      for (const fetch::FileFailure& f : report.errors) {
        std::string label = f.repo + ": " + f.path;
        bool named = f.error.message.find(label) != std::string::npos;
        log::error("failed: " + (named ? f.error.message : label + ": " + f.error.message));
      }
      for (const LockedModel& m : lock.models) {
        if (!listed(report.incomplete_models, m.name)) say(ctx, m.name + ": complete");
      }
    }
    return report_error(ctx, st.error(), doc());
  }
  if (ctx.opts.json) {
    print_json(doc());
    return 0;
  }
  for (const LockedModel& m : lock.models) {
    say(ctx, m.name + ": " + m.repo + "@" + m.commit.substr(0, 12) + ", " +
                 std::to_string(m.files.size()) + " files, " +
                 fetch::format_bytes(m.total_bytes()));
  }
  say(ctx, "fetched " + std::to_string(report.files_total) +
               " files: " + std::to_string(report.files_downloaded) + " downloaded (" +
               fetch::format_bytes(report.bytes_downloaded) + "), " +
               std::to_string(report.files_reused) + " already cached; cache " + ctx.cache_dir());
  return 0;
}

int run_fetch(Context& ctx, const FetchFlags& flags) {
  auto start = ctx.clock.now();
  Session s{ctx, {}, {}, {}, {}, {}, {}, flags};
  Status loaded = load_inputs(s);
  if (!loaded.ok()) {
    // A damaged lock is fatal for --locked; otherwise fetch re-locks over it.
    if (flags.locked || s.manifest.models.empty()) return report_error(ctx, loaded.error());
    log::warn("ignoring unreadable lock: " + loaded.error().message);
  }
  bool need_lock = false;
  if (flags.locked) {
    if (!s.lock) {
      return report_error(
          ctx, make_error(ErrorCategory::usage, "--locked: no lock file at " + ctx.lock_path(),
                          "run `modelbake lock` and commit modelbake.lock"));
    }
    if (Status st = lock_matches_manifest(s.manifest, *s.lock); !st.ok()) {
      Error e = st.error().with_context("--locked: " + ctx.lock_path() + " does not match " +
                                        ctx.opts.manifest);
      if (e.hint.empty()) e.hint = "run `modelbake lock` to update the lock";
      return report_error(ctx, e);
    }
  } else {
    need_lock = !s.lock || !lock_matches_manifest(s.manifest, *s.lock).ok();
  }
  // Refused before anything reads the lock's claims (registry prefill included); the engine
  // checks again whatever lock it is given.
  if (!need_lock) {
    if (Status st = fetch::check_lock_consistency(*s.lock); !st.ok())
      return report_error(ctx, st.error());
  }
  const std::optional<std::string> offline = hub::offline_setting(ctx.env);
  if (offline && need_lock) {
    return report_error(ctx, needs_lock_error(s, *offline));
  }
  if (Status st = s.open_cache(); !st.ok()) return report_error(ctx, st.error());
  if (offline) {
    size_t count = 0;
    std::string missing = describe_missing(*s.store, *s.lock, count);
    if (count != 0) {
      return report_error(
          ctx,
          offline_error(*offline,
                        std::to_string(count) + " locked file(s) are not in the cache " +
                            ctx.cache_dir() + " (" + missing + ")",
                        "fetch them where the hub is reachable (or `modelbake import` a bundle)"));
    }
  }
  fetch::FetchReport report;
  Lockfile lock;
  ProgressDisplay display(s.progress, ctx.clock, ctx.show_progress(),
                          ctx.opts.quiet || ctx.opts.json);
  if (!flags.from.reference.empty() && !need_lock && !offline) {
    if (Status st = prefill_from_registry(ctx, flags.from, *s.lock); !st.ok())
      return report_error(ctx, st.error());
  }
  // A lock whose every object is in the store is served from disk alone: no transport is
  // created, so not a single request leaves the machine.
  bool from_disk = !need_lock && cache_complete(*s.store, *s.lock);
  const hub::HubClient* hub = nullptr;
  net::Transport* transport = nullptr;
  if (!from_disk) {
    auto n = s.net();
    if (!n.ok()) return report_error(ctx, n.error());
    hub = (*n)->client.get();
    transport = (*n)->transport.get();
  }
  fetch::Engine engine(*s.store, hub, transport, ctx.clock, engine_options(ctx, s.manifest, flags),
                       &s.progress);
  if (need_lock) {
    if (s.lock) log::info("the lock does not match the manifest; locking again");
    auto fresh = relock(s, engine, report);
    if (!fresh.ok()) {
      display.stop();
      return report_error(ctx, fresh.error());
    }
    lock = std::move(fresh).value();
    if (!flags.from.reference.empty()) {
      if (Status st2 = prefill_from_registry(ctx, flags.from, lock); !st2.ok()) {
        display.stop();
        return report_error(ctx, st2.error());
      }
    }
  } else {
    lock = *s.lock;
  }
  // Regular files fetched while locking are found in the store by the fetch below.
  fetch::FetchReport locking = report;
  report = {};
  Status st = engine.fetch(lock, report);
  fetch::merge_locking_report(locking, report);
  display.stop();
  return print_outcome(ctx, lock, need_lock, report, st, seconds_since(ctx, start));
}

}  // namespace

void register_fetch_commands(CLI::App& app, Context& ctx) {
  static FetchFlags lock_flags, fetch_flags;
  CLI::App* lock = add_command(
      app, "lock", "Resolve modelbake.yaml into modelbake.lock (commits, sizes, digests)");
  add_tuning_options(lock, lock_flags);
  lock->callback([&ctx] { ctx.action = [&ctx] { return run_lock(ctx, lock_flags); }; });

  CLI::App* fetch =
      add_command(app, "fetch", "Download every locked file into the cache, verified");
  fetch->add_flag("--locked", fetch_flags.locked,
                  "Use modelbake.lock exactly; fail (exit 2) if it is missing or out of date");
  add_tuning_options(fetch, fetch_flags);
  fetch->add_option("--from", fetch_flags.from.reference,
                    "Take what an OCI registry artifact (REGISTRY/REPO:TAG, from 'modelbake push') "
                    "has first; hub for the rest");
  fetch->add_flag("--plain-http", fetch_flags.from.plain_http, "--from registry over http://");
  fetch->add_flag("--insecure", fetch_flags.from.insecure,
                  "--from registry: skip TLS certificate verification");
  fetch->callback([&ctx] { ctx.action = [&ctx] { return run_fetch(ctx, fetch_flags); }; });
}

}  // namespace mb::cli
