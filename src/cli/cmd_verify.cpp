// verify and status: read-only checks of the cache against the lock (no network, no writes,
// so they work on a read-only image layer and inside `unshare -n`), plus `verify --repair`.
#include <filesystem>
#include <iostream>
#include <memory>

#include "app/version.hpp"
#include "cli/app.hpp"
#include "cli/cache_json.hpp"
#include "core/log.hpp"
#include "fetch/engine.hpp"
#include "fetch/hub_setup.hpp"
#include "manifest/manifest.hpp"
#include "store/store.hpp"
#include "verify/integrity.hpp"
#include "verify/repair.hpp"

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

std::string absolute(const std::string& p) {
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

Result<Lockfile> load_lock(const Context& ctx, const std::string& flag) {
  std::string path = flag.empty() ? ctx.lock_path() : flag;
  auto lock = read_lock(path);
  if (!lock.ok()) {
    Error e = lock.take_error();
    if (e.hint.empty()) e.hint = "run `modelbake lock` (or pass --lock FILE)";
    return e;
  }
  return lock;
}

// Fetches (locked mode) the models whose content repair had to drop. Only these models'
// missing files are downloaded: everything else is already present and just relinked.
Status fetch_models(Context& ctx, const VerifyArgs& args, const Store& store, const Lockfile& lock,
                    const std::set<std::string>& names) {
  Lockfile sub;
  for (const auto& m : lock.models) {
    if (names.count(m.name)) sub.models.push_back(m);
  }
  std::string manifest_endpoint;
  if (auto man = load_manifest(ctx.opts.manifest); man.ok()) manifest_endpoint = man->endpoint;
  fetch::HubSettings h = hub_settings(ctx, manifest_endpoint, args.retries, args.metadata_timeout);
  h.offline_what = std::to_string(names.size()) + " model(s) need content from the hub";
  h.offline_hint = "run `modelbake verify --repair` where the hub is reachable";
  MB_ASSIGN(fetch::Hub hub, fetch::open_hub(ctx.env, ctx.clock, h));
  fetch::FetchOptions options;
  fetch::apply_retries(h, options);
  fetch::Engine engine(store, hub.client.get(), hub.transport.get(), ctx.clock, options, nullptr);
  fetch::FetchReport report;
  return engine.fetch(sub, report);
}

void print_findings(const verify::VerifyReport& r) {
  for (const auto& m : r.models) {
    std::cout << (m.ready() ? "ok      " : "FAILED  ") << m.name << "  " << m.repo << "@"
              << m.revision << " (" << m.commit.substr(0, 12) << ")  " << m.files_ok << "/"
              << m.files << " files, " << format_size(m.bytes) << "\n";
    for (const auto& f : r.findings) {
      if (f.model != m.name) continue;
      std::cout << "  " << verify::to_string(f.kind) << ": " << f.message << "\n";
      if (!f.expected.empty()) std::cout << "    expected: " << f.expected << "\n";
      if (!f.actual.empty()) std::cout << "    actual:   " << f.actual << "\n";
      if (!f.location.empty()) std::cout << "    at:       " << f.location << "\n";
    }
  }
}

int run_verify(Context& ctx, const VerifyArgs& args) {
  auto lock = load_lock(ctx, args.lock);
  if (!lock.ok()) return report_error(ctx, lock.error());
  Store store{CacheLayout(absolute(ctx.cache_dir()))};
  verify::VerifyOptions opts;
  opts.fast = args.fast;
  opts.threads = args.threads;
  opts.models = args.models;
  auto report = verify::verify_cache(store.layout(), *lock, opts);
  if (!report.ok()) return report_error(ctx, report.error());

  nlohmann::ordered_json repair_doc;
  if (args.repair && !report->ok()) {
    auto before = *report;
    auto init = store.init();
    if (!init.ok()) return report_error(ctx, init.error());
    auto cache_lock = store.lock_cache(LockMode::shared);  // a writer, like fetch
    if (!cache_lock.ok()) return report_error(ctx, cache_lock.error());
    auto fixed = verify::repair_locally(store, *lock, *report);
    if (!fixed.ok()) return report_error(ctx, fixed.error());
    if (!fixed->needs_fetch.empty()) {
      say(ctx, "repair: fetching missing content for " + std::to_string(fixed->needs_fetch.size()) +
                   " model(s)");
      auto st = fetch_models(ctx, args, store, *lock, fixed->needs_fetch);
      if (!st.ok()) return report_error(ctx, st.error().with_context("verify --repair"));
    }
    repair_doc = {{"findings_before", before.findings.size()},
                  {"removed", fixed->removed},
                  {"restored", fixed->restored},
                  {"fetched_models",
                   std::vector<std::string>(fixed->needs_fetch.begin(), fixed->needs_fetch.end())}};
    for (const auto& x : before.findings) {
      say(ctx, "repaired " + std::string(verify::to_string(x.kind)) + ": " + x.message);
    }
    report = verify::verify_cache(store.layout(), *lock, opts);
    if (!report.ok()) return report_error(ctx, report.error());
  }

  std::string cache = store.layout().root();
  if (ctx.opts.json) {
    auto doc = verify_report_json(*report, cache);
    if (!repair_doc.is_null()) doc["repair"] = repair_doc;
    print_json(doc);
  } else if (!ctx.opts.quiet) {
    print_findings(*report);
    std::cout << (report->ok() ? "ready: " : "NOT READY: ") << report->models.size()
              << " model(s), " << report->files_checked << " files, "
              << format_size(report->bytes_locked)
              << (report->hashed ? " hashed" : " (sizes and layout only: --fast)") << "\n";
    if (!report->ok()) {
      std::cout << report->findings.size() << " problem(s); fix: modelbake fetch --locked"
                << " (or modelbake verify --repair)\n";
    }
    std::cout << "\nRuntime environment for this cache:\n  HF_HUB_CACHE=" << cache
              << "\n  HF_HUB_OFFLINE=1\n";
  }
  return report->ok() ? 0 : 1;
}

int run_status(Context& ctx, const std::string& lock_flag, bool full) {
  auto manifest = load_manifest(ctx.opts.manifest);
  if (!manifest.ok()) return report_error(ctx, manifest.error());
  std::string lock_path = lock_flag.empty() ? ctx.lock_path() : lock_flag;
  std::optional<Lockfile> lock;
  // No lock is a state (stale-lock); a lock that exists but cannot be read is an error.
  if (auto l = read_lock(lock_path); l.ok()) {
    lock = std::move(*l);
  } else if (std::error_code ec;
             std::filesystem::exists(std::filesystem::symlink_status(lock_path, ec))) {
    return report_error(ctx, l.error());
  }
  CacheLayout layout(absolute(ctx.cache_dir()));
  auto entries =
      verify::compute_status(status_requests(*manifest), lock ? &*lock : nullptr, layout, full);
  if (!entries.ok()) return report_error(ctx, entries.error());
  bool all_ready = true;
  for (const auto& e : *entries) all_ready = all_ready && e.state == verify::ModelState::ready;
  if (ctx.opts.json) {
    print_json(status_json(*entries, layout.root(), all_ready));
  } else if (!ctx.opts.quiet) {
    for (const auto& e : *entries) {
      std::cout << verify::to_string(e.state) << "  " << e.name << "  " << e.repo << "@"
                << e.revision;
      if (!e.renamed_to.empty()) std::cout << " (renamed to " << e.renamed_to << ")";
      if (!e.commit.empty()) std::cout << " (" << e.commit.substr(0, 12) << ")";
      std::cout << "  " << e.files << " files, " << format_size(e.bytes);
      if (!e.detail.empty()) std::cout << "  -- " << e.detail;
      std::cout << "\n";
    }
  }
  return all_ready ? 0 : 1;
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
