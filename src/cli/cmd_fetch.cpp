// `modelbake lock` and `modelbake fetch` (docs/fetch.md).
#include <memory>

#include "cli/app.hpp"
#include "cli/progress_display.hpp"
#include "core/log.hpp"
#include "fetch/run.hpp"
#include "lock/lockfile.hpp"

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

fetch::RunRequest run_request(const Context& ctx, const FetchFlags& f) {
  fetch::RunRequest r;
  r.manifest_path = ctx.opts.manifest;
  r.lock_path = ctx.lock_path();
  r.cache_dir = ctx.cache_dir();
  r.locked = f.locked;
  r.options.jobs = f.jobs;
  r.options.download.connections = f.connections;
  r.options.download.range_threshold = f.range_threshold;
  r.options.download.min_chunk = f.min_chunk;
  r.hub = hub_settings(ctx, "", f.retries, f.metadata_timeout);
  return r;
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
                   {"complete", fetch::model_complete(r, m.name)}});
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

nlohmann::ordered_json outcome_json(const char* command, const fetch::RunOutcome& o) {
  return result_json(command, o.lock_path, o.lock, o.relocked, o.report, o.seconds);
}

void print_lock(const Context& ctx, const fetch::RunOutcome& o) {
  if (!o.kept_offline.empty()) {
    say(ctx, "offline (" + o.kept_offline + "): " + o.lock_path +
                 " already matches the manifest; kept as it is");
    return;
  }
  for (const LockedModel& m : o.lock.models) {
    say(ctx, "locked " + m.name + ": " + m.repo +
                 (m.renamed_to.empty() ? "" : " (renamed to " + m.renamed_to + ")") + "@" +
                 m.revision + " -> " + m.commit + " (" + std::to_string(m.files.size()) +
                 " files, " + fetch::format_bytes(m.total_bytes()) + ")");
  }
  say(ctx, "wrote " + o.lock_path);
}

int run_lock(Context& ctx, const FetchFlags& flags) {
  fetch::Progress progress;
  fetch::RunDeps deps{ctx.env, ctx.clock, &progress, {}, {}};
  ProgressDisplay display(progress, ctx.clock, ctx.show_progress(),
                          ctx.opts.quiet || ctx.opts.json);
  auto outcome = fetch::run_lock(run_request(ctx, flags), deps);
  display.stop();
  if (!outcome.ok()) return report_error(ctx, outcome.error());
  if (ctx.opts.json) {
    print_json(outcome_json("lock", *outcome));
  } else {
    print_lock(ctx, *outcome);
  }
  return 0;
}

// Some files failed: the models that are complete were completed; say which is which.
int print_failure(Context& ctx, const fetch::RunOutcome& o) {
  if (!ctx.opts.json) {
    for (const fetch::FileFailure& f : o.report.errors) {
      log::error("failed: " + fetch::describe_failure(f));
    }
    for (const LockedModel& m : o.lock.models) {
      if (fetch::model_complete(o.report, m.name)) say(ctx, m.name + ": complete");
    }
  }
  return report_error(ctx, *o.failure, outcome_json("fetch", o));
}

int print_fetch(Context& ctx, const fetch::RunOutcome& o) {
  if (o.failure) return print_failure(ctx, o);
  if (ctx.opts.json) {
    print_json(outcome_json("fetch", o));
    return 0;
  }
  const fetch::FetchReport& r = o.report;
  for (const LockedModel& m : o.lock.models) {
    say(ctx, m.name + ": " + m.repo + "@" + m.commit.substr(0, 12) + ", " +
                 std::to_string(m.files.size()) + " files, " +
                 fetch::format_bytes(m.total_bytes()));
  }
  say(ctx, "fetched " + std::to_string(r.files_total) +
               " files: " + std::to_string(r.files_downloaded) + " downloaded (" +
               fetch::format_bytes(r.bytes_downloaded) + "), " + std::to_string(r.files_reused) +
               " already cached; cache " + ctx.cache_dir());
  return 0;
}

int run_fetch(Context& ctx, const FetchFlags& flags) {
  fetch::Progress progress;
  fetch::RunDeps deps{ctx.env, ctx.clock, &progress, {}, {}};
  if (!flags.from.reference.empty()) {
    deps.prefill = [&](const Lockfile& lock) {
      return prefill_from_registry(ctx, flags.from, lock);
    };
  }
  ProgressDisplay display(progress, ctx.clock, ctx.show_progress(),
                          ctx.opts.quiet || ctx.opts.json);
  auto outcome = fetch::run_fetch(run_request(ctx, flags), deps);
  display.stop();
  if (!outcome.ok()) return report_error(ctx, outcome.error());
  return print_fetch(ctx, *outcome);
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
