// ls, du, gc, rm: cache inventory and maintenance (src/verify/cache_admin.hpp).
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "cli/app.hpp"
#include "cli/cache_json.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "store/store.hpp"
#include "verify/cache_admin.hpp"

namespace fs = std::filesystem;

namespace mb::cli {

namespace {

std::string date(int64_t t) {
  if (t == 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// A --keep-manifest argument: a lock file, or a manifest whose lock sits next to it.
Result<Lockfile> lock_for(const std::string& path) {
  std::string lock = path;
  if (!path.ends_with(".lock")) lock = (fs::path(path).parent_path() / "modelbake.lock").string();
  auto l = read_lock(lock);
  if (!l.ok()) return l.take_error().with_context("--keep-manifest " + path);
  return l;
}

using PinNames = std::map<std::tuple<RepoType, std::string, std::string>, std::vector<std::string>>;

// Revisions pinned by the project's lock (next to -f/--manifest), if there is one.
PinNames project_pins(const Context& ctx) {
  PinNames out;
  auto lock = read_lock(ctx.lock_path());
  if (!lock.ok()) return out;
  for (const auto& m : lock->models)
    out[{m.type, m.repo, m.commit}].push_back(m.name + " (" + ctx.lock_path() + ")");
  return out;
}

int run_ls(Context& ctx) {
  std::string cache = ctx.cache_dir();
  auto repos = verify::scan_cache(CacheLayout(cache));
  if (!repos.ok()) return report_error(ctx, repos.error());
  PinNames pins = project_pins(ctx);
  if (ctx.opts.json) {
    nlohmann::ordered_json doc;
    doc["cache"] = cache;
    doc["repos"] = nlohmann::ordered_json::array();
    for (const auto& r : *repos) {
      nlohmann::ordered_json jr = {{"repo", r.repo},
                                   {"type", to_string(r.type)},
                                   {"folder", r.folder},
                                   {"blob_bytes", r.blob_bytes},
                                   {"revisions", nlohmann::ordered_json::array()}};
      for (const auto& v : r.revisions) {
        auto it = pins.find({r.type, r.repo, v.commit});
        jr["revisions"].push_back(
            {{"commit", v.commit},
             {"refs", v.refs},
             {"files", v.files},
             {"bytes", v.bytes},
             {"fetched_at", v.fetched_at},
             {"last_used", v.last_used},
             {"pinned_by", it == pins.end() ? std::vector<std::string>{} : it->second}});
      }
      doc["repos"].push_back(jr);
    }
    print_json(doc);
    return 0;
  }
  if (ctx.opts.quiet) return 0;
  if (repos->empty()) std::cout << "(no repos in " << cache << ")\n";
  for (const auto& r : *repos) {
    std::cout << r.repo << (r.type == RepoType::dataset ? " (dataset)" : "") << "  "
              << format_size(r.blob_bytes) << "\n";
    for (const auto& v : r.revisions) {
      std::string refs;
      for (const auto& x : v.refs) refs += (refs.empty() ? "" : ",") + x;
      std::cout << "  " << v.commit.substr(0, 12) << "  " << (refs.empty() ? "-" : refs) << "  "
                << v.files << " files  " << format_size(v.bytes) << "  last used "
                << date(v.last_used);
      if (auto it = pins.find({r.type, r.repo, v.commit}); it != pins.end()) {
        std::cout << "  pinned by";
        for (const auto& p : it->second) std::cout << " " << p;
      }
      std::cout << "\n";
    }
  }
  return 0;
}

int run_du(Context& ctx) {
  std::string cache = ctx.cache_dir();
  auto du = verify::disk_usage(CacheLayout(cache));
  if (!du.ok()) return report_error(ctx, du.error());
  if (ctx.opts.json) {
    print_json({{"cache", cache},
                {"disk_bytes", du->disk_bytes},
                {"apparent_bytes", du->apparent_bytes},
                {"linked_bytes", du->linked_bytes},
                {"files", du->files},
                {"temp_bytes", du->temp_bytes}});
  } else {
    say(ctx, format_size(du->disk_bytes) + " on disk in " + cache + " (" +
                 std::to_string(du->files) + " files, " + format_size(du->apparent_bytes) +
                 " of content; shared content counted once, " + format_size(du->linked_bytes) +
                 " if every link were a copy; " + format_size(du->temp_bytes) + " temporary)");
  }
  return 0;
}

void print_gc(const Context& ctx, const verify::GcReport& r, bool dry_run) {
  if (ctx.opts.json) {
    nlohmann::ordered_json doc;
    doc["cache"] = ctx.cache_dir();
    doc["dry_run"] = dry_run;
    doc["disk_before"] = r.disk_before;
    doc["disk_after"] = r.disk_after;
    doc["limit_reached"] = r.limit_reached;
    doc["warnings"] = r.warnings;
    doc["actions"] = nlohmann::ordered_json::array();
    for (const auto& a : r.actions) {
      doc["actions"].push_back({{"kind", verify::to_string(a.kind)},
                                {"path", a.path},
                                {"repo", a.repo},
                                {"commit", a.commit},
                                {"bytes", a.bytes}});
    }
    print_json(doc);
    return;
  }
  for (const auto& w : r.warnings) log::warn(w);
  const char* verb = dry_run ? "would remove" : "removed";
  for (const auto& a : r.actions) {
    say(ctx,
        std::string(verb) + " " + verify::to_string(a.kind) + " " +
            (a.kind == verify::GcActionKind::evict_revision ? a.repo + "@" + a.commit.substr(0, 12)
                                                            : a.path) +
            (a.bytes ? " (" + format_size(a.bytes) + ")" : ""));
  }
  say(ctx, std::string(dry_run ? "would free " : "freed ") +
               format_size(r.disk_before - std::min(r.disk_before, r.disk_after)) + ": " +
               format_size(r.disk_before) + " -> " + format_size(r.disk_after));
  if (!r.limit_reached) {
    log::warn("pinned revisions alone exceed --max-size; nothing pinned was evicted");
  }
}

struct GcArgs {
  bool dry_run = false;
  std::vector<std::string> keep;
  std::string max_size;
};

int run_gc(Context& ctx, const GcArgs& args) {
  Store store{CacheLayout(ctx.cache_dir())};
  auto root = store.layout().door().lstat("");
  if (!root.ok() || !*root || !S_ISDIR((*root)->st_mode)) {
    return report_error(ctx,
                        make_error(ErrorCategory::usage,
                                   "cache directory " + store.layout().root() + " does not exist",
                                   "pass --cache DIR or set HF_HUB_CACHE"));
  }
  verify::GcOptions o;
  o.dry_run = args.dry_run;
  o.now = ctx.clock.unix_seconds();
  if (!args.max_size.empty()) {
    auto size = parse_size(args.max_size);
    if (!size.ok()) return report_error(ctx, size.error());
    o.max_size = *size;
  }
  for (const auto& f : args.keep) {
    auto lock = lock_for(f);
    if (!lock.ok()) return report_error(ctx, lock.error());
    auto p = verify::pins_of(*lock);
    o.pins.insert(p.begin(), p.end());
  }
  for (const auto& [key, _] : project_pins(ctx)) o.pins.insert(key);
  auto r = verify::gc_cache(store, o);
  if (!r.ok()) return report_error(ctx, r.error());
  print_gc(ctx, *r, args.dry_run);
  return 0;
}

struct RmArgs {
  std::string target;
  bool dataset = false;
};

int run_rm(Context& ctx, const RmArgs& args) {
  auto target = verify::parse_repo_target(args.target);
  if (!target.ok()) return report_error(ctx, target.error());
  Store store{CacheLayout(ctx.cache_dir())};
  auto r = verify::remove_repo(store, args.dataset ? RepoType::dataset : RepoType::model,
                               target->repo, target->revision, ctx.clock.unix_seconds());
  if (!r.ok()) return report_error(ctx, r.error());
  print_gc(ctx, *r, false);
  return 0;
}

}  // namespace

void register_cache_commands(CLI::App& app, Context& ctx) {
  add_command(app, "ls", "List cached repos and revisions with sizes, last use and pins")
      ->callback([&ctx] { ctx.action = [&ctx] { return run_ls(ctx); }; });
  add_command(app, "du", "Real disk use of the cache (shared content counted once)")
      ->callback([&ctx] { ctx.action = [&ctx] { return run_du(ctx); }; });

  auto gc = std::make_shared<GcArgs>();
  CLI::App* g = add_command(
      app, "gc",
      "Remove unreferenced content; with --max-size evict least recently used revisions");
  g->add_flag("--dry-run", gc->dry_run, "Only print what would be removed");
  g->add_option("--keep-manifest", gc->keep,
                "Never evict what this manifest's lock (or this .lock) pins; repeatable");
  g->add_option(
      "--max-size", gc->max_size,
      "Evict unpinned revisions, least recently used first, until the cache fits (e.g. 20G)");
  g->callback([&ctx, gc] { ctx.action = [&ctx, gc] { return run_gc(ctx, *gc); }; });

  auto rm = std::make_shared<RmArgs>();
  CLI::App* r =
      add_command(app, "rm", "Remove a repo (REPO) or one revision (REPO@REVISION) from the cache");
  r->add_option("target", rm->target, "REPO or REPO@REVISION")->required();
  r->add_flag("--dataset", rm->dataset, "The repo is a dataset");
  r->callback([&ctx, rm] { ctx.action = [&ctx, rm] { return run_rm(ctx, *rm); }; });
}

}  // namespace mb::cli
