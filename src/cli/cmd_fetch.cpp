// `modelbake lock` and `modelbake fetch` (docs/fetch.md).
#include <memory>

#include "cli/app.hpp"
#include "cli/fetch_output.hpp"
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
  bool no_xet = false;
  RegistrySource from;  // fetch --from: registry first, hub for the rest
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
  cmd->add_flag("--no-xet", f.no_xet,
                "Download Xet-backed files through the hub's bridge (/resolve/ redirect) only; "
                "same as HF_HUB_DISABLE_XET=1");
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
  r.options.download.xet = !f.no_xet;
  r.hub = hub_settings(ctx, f.retries, f.metadata_timeout);
  return r;
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
    for (const std::string& line : lock_lines(*outcome)) say(ctx, line);
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
  } else {
    for (const std::string& line : fetch_lines(o, ctx.cache_dir())) say(ctx, line);
  }
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
