// verify and status: read-only checks of the cache against the lock (no network, no writes,
// so they work on a read-only image layer and inside `unshare -n`), plus `verify --repair`.
#include <memory>
#include <set>

#include "cli/app.hpp"
#include "cli/cache_json.hpp"
#include "cli/verify_output.hpp"
#include "fetch/run.hpp"
#include "manifest/manifest.hpp"
#include "store/store.hpp"
#include "verify/integrity.hpp"
#include "verify/run.hpp"
#include "verify/status.hpp"

namespace mb::cli {

namespace {

struct VerifyArgs {
  bool fast = false;
  bool repair = false;
  unsigned threads = 0;
  int retries = 5;            // --repair: as `fetch --retries`
  int metadata_timeout = 60;  // --repair: as `fetch --metadata-timeout`
  std::string lock;
  std::vector<std::string> models;
};

// verify --repair: the hub half, with the hub set-up of fetch (--retries, --metadata-timeout).
verify::RepairFetch repair_fetch(Context& ctx, const VerifyArgs& args) {
  return [&ctx, &args](const Store& store, const Lockfile& lock,
                       const std::set<std::string>& models) {
    say(ctx, "repair: fetching missing content for " + std::to_string(models.size()) + " model(s)");
    fetch::RunRequest request;
    request.manifest_path = ctx.opts.manifest;
    request.hub = hub_settings(ctx, args.retries, args.metadata_timeout);
    fetch::RunDeps deps{ctx.env, ctx.clock, nullptr, {}, {}};
    return fetch::fetch_models(store, lock, models, request, deps);
  };
}

int run_verify(Context& ctx, const VerifyArgs& args) {
  verify::VerifyRequest request;
  request.lock_path = args.lock.empty() ? ctx.lock_path() : args.lock;
  request.cache_dir = ctx.cache_dir();
  request.options.fast = args.fast;
  request.options.threads = args.threads;
  request.options.models = args.models;
  request.repair = args.repair;
  auto outcome = verify::run_verify(request, repair_fetch(ctx, args));
  if (!outcome.ok()) return report_error(ctx, outcome.error());
  if (ctx.opts.json) {
    print_json(verify_outcome_json(*outcome));
  } else {
    for (const std::string& line : verify_lines(*outcome)) say(ctx, line);
  }
  return outcome->exit_code();
}

int run_status(Context& ctx, const std::string& lock_flag, bool full) {
  auto manifest = load_manifest(ctx.opts.manifest);
  if (!manifest.ok()) return report_error(ctx, manifest.error());
  auto outcome =
      verify::run_status(status_requests(*manifest),
                         lock_flag.empty() ? ctx.lock_path() : lock_flag, ctx.cache_dir(), full);
  if (!outcome.ok()) return report_error(ctx, outcome.error());
  if (ctx.opts.json) {
    print_json(status_json(outcome->entries, outcome->cache, outcome->ready()));
  } else {
    for (const std::string& line : status_lines(*outcome)) say(ctx, line);
  }
  return outcome->exit_code();
}

}  // namespace

void register_verify_commands(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* v = add_command(
      app, "verify", "Check offline readiness of every locked model (never uses the network)");
  v->add_flag("--fast", args->fast, "Sizes and layout only, no hashing");
  v->add_flag("--repair", args->repair,
              "Fix what is broken: relink from the cache, re-fetch only damaged files");
  v->add_option("--threads", args->threads, "Hashing threads (default: hardware threads)");
  v->add_option("--retries", args->retries,
                "--repair: retries of a failed request with backoff, as for fetch (default 5)")
      ->check(CLI::Range(0, 20));
  v->add_option("--metadata-timeout", args->metadata_timeout,
                "--repair: deadline in seconds of each hub metadata request (default 60)")
      ->check(CLI::Range(1, 3600));
  v->add_option("--lock", args->lock, "Lock file (default: modelbake.lock next to the manifest)");
  v->add_option("models", args->models, "Only these lock entries (by name)");
  v->callback([&ctx, args] { ctx.action = [&ctx, args] { return run_verify(ctx, *args); }; });

  struct StatusArgs {
    std::string lock;
    bool full = false;
  };
  auto sa = std::make_shared<StatusArgs>();
  CLI::App* s = add_command(app, "status",
                            "State of every manifest entry: ready, missing, corrupt or stale-lock");
  s->add_option("--lock", sa->lock, "Lock file (default: modelbake.lock next to the manifest)");
  s->add_flag("--full", sa->full,
              "Hash every file (default: sizes and layout only, cheap enough for a health check)");
  s->callback(
      [&ctx, sa] { ctx.action = [&ctx, sa] { return run_status(ctx, sa->lock, sa->full); }; });
}

}  // namespace mb::cli
