// export / import: bundles for multi-stage image builds (docs/bundles.md).
#include <memory>

#include "bundle/export.hpp"
#include "bundle/import.hpp"
#include "bundle/plan.hpp"
#include "cli/app.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::cli {

namespace {

struct ExportArgs {
  std::string output;
  std::string format = "dir";
  std::string layout = "hub";
  std::string prefix;
  bool prefix_given = false;
  std::string tag;
  bool force = false;
  bool no_layer_cache = false;
  bool no_sync = false;
};

Result<bundle::ExportOptions> export_options(const Context& ctx, const ExportArgs& a) {
  bundle::ExportOptions o;
  o.output = a.output;
  auto format = bundle::parse_format(a.format);
  if (!format)
    return fail(ErrorCategory::usage, "unknown --format '" + a.format + "'",
                "use dir, tar, tar.zst or oci");
  o.format = *format;
  auto layout = bundle::parse_layout(a.layout);
  if (!layout)
    return fail(ErrorCategory::usage, "unknown --layout '" + a.layout + "'", "use hub or flat");
  o.layout = *layout;
  std::string prefix =
      a.prefix_given ? a.prefix : (o.format == bundle::Format::oci ? "models" : "");
  MB_ASSIGN(o.prefix, bundle::normalize_prefix(prefix));
  if (o.format == bundle::Format::oci && o.prefix.empty()) {
    return fail(ErrorCategory::usage, "--format oci needs a --prefix folder",
                "for example --prefix /models");
  }
  if (o.format != bundle::Format::oci && !a.tag.empty()) {
    return fail(ErrorCategory::usage, "--tag only applies to --format oci");
  }
  if (!a.tag.empty()) o.tag = a.tag;
  MB_ASSIGN(o.epoch, source_date_epoch(ctx.env));
  o.force = a.force;
  o.use_layer_cache = !a.no_layer_cache;
  o.sync = a.no_sync ? Sync::no : Sync::yes;
  return o;
}

int run_export(Context& ctx, const ExportArgs& a) {
  auto opts = export_options(ctx, a);
  if (!opts.ok()) return report_error(ctx, opts.error());
  auto lock = read_lock(ctx.lock_path());
  if (!lock.ok()) return report_error(ctx, lock.error());
  Store store{CacheLayout(ctx.cache_dir())};
  auto result = bundle::export_bundle(*lock, store, *opts);
  if (!result.ok()) return report_error(ctx, result.error().with_context("export"));
  if (ctx.opts.json) {
    nlohmann::ordered_json doc{{"ok", true},
                               {"output", opts->output},
                               {"cache", ctx.cache_dir()},
                               {"format", bundle::to_string(opts->format)},
                               {"layout", bundle::to_string(opts->layout)},
                               {"prefix", opts->prefix},
                               {"models", lock->models.size()},
                               {"files", result->files},
                               {"bytes", result->bytes}};
    if (result->image) {
      doc["tag"] = opts->tag;
      doc["manifest_digest"] = result->image->manifest.digest;
      doc["config_digest"] = result->image->config.digest;
      auto layers = nlohmann::ordered_json::array();
      for (const auto& l : result->image->layers) {
        layers.push_back(
            {{"model", l.model_name.empty() ? std::string(bundle::k_lock_name) : l.model_name},
             {"digest", l.blob.digest},
             {"size", l.blob.size}});
      }
      doc["layers"] = layers;
    }
    print_json(doc);
  } else {
    std::string line = "exported " + std::to_string(lock->models.size()) + " model(s), " +
                       std::to_string(result->files) + " file(s), " +
                       std::to_string(result->bytes) + " bytes to " + opts->output + " (" +
                       bundle::to_string(opts->format) + ", " + bundle::to_string(opts->layout) +
                       ")";
    say(ctx, line);
    if (result->image)
      say(ctx, "image " + opts->tag + " manifest " + result->image->manifest.digest);
  }
  return 0;
}

int run_import(Context& ctx, const std::string& path) {
  Store store{CacheLayout(ctx.cache_dir())};
  bundle::ImportOptions io;
  io.unix_now = ctx.clock.unix_seconds();
  auto result = bundle::import_bundle(path, store, io);
  if (!result.ok()) return report_error(ctx, result.error().with_context("import " + path));
  if (ctx.opts.json) {
    auto models = nlohmann::ordered_json::array();
    for (const auto& m : result->lock.models) {
      models.push_back({{"name", m.name},
                        {"repo", m.repo},
                        {"revision", m.revision},
                        {"commit", m.commit},
                        {"files", m.files.size()},
                        {"bytes", m.total_bytes()}});
    }
    print_json({{"ok", true},
                {"bundle", path},
                {"format", result->format},
                {"layout", bundle::to_string(result->layout)},
                {"cache", ctx.cache_dir()},
                {"models", models},
                {"files", result->files},
                {"bytes", result->bytes},
                {"objects_added", result->objects_added}});
  } else {
    say(ctx, "imported " + std::to_string(result->lock.models.size()) + " model(s), " +
                 std::to_string(result->files) + " file(s), " + std::to_string(result->bytes) +
                 " bytes into " + store.layout().root() + " (" + result->format + ", " +
                 bundle::to_string(result->layout) + " layout, verified)");
  }
  return 0;
}

}  // namespace

void register_bundle_commands(CLI::App& app, Context& ctx) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* ex = add_command(
      app, "export",
      "Write the locked models from the cache as a bundle (dir, tar, tar.zst, OCI image layout)");
  ex->add_option("-o,--output", a->output,
                 "Output path (directory, tar file or OCI layout directory)")
      ->required();
  ex->add_option("--format", a->format, "dir | tar | tar.zst | oci (default dir)");
  ex->add_option("--layout", a->layout,
                 "hub (HF cache tree, default) | flat (one folder per model named by its 'as:')");
  ex->add_option("--prefix", a->prefix,
                 "Folder inside archives/images (default: bundle root; /models for oci)")
      ->each([a](const std::string&) { a->prefix_given = true; });
  ex->add_option("--tag", a->tag,
                 "Image reference name:tag for --format oci (default models:latest)");
  ex->add_flag("--force", a->force, "Replace an existing output");
  ex->add_flag("--no-layer-cache", a->no_layer_cache, "Do not reuse or remember OCI layer digests");
  ex->add_flag(
      "--no-sync", a->no_sync,
      "Do not wait for the output to reach the disk (for a build stage that consumes it at once;\n"
      "after a crash the output may be truncated, which import and modelbake-verify detect)");
  ex->callback([&ctx, a] { ctx.action = [&ctx, a] { return run_export(ctx, *a); }; });

  auto bundle_path = std::make_shared<std::string>();
  CLI::App* im =
      add_command(app, "import", "Verify a bundle (any format) and add its models to the cache");
  im->add_option("bundle", *bundle_path,
                 "Bundle directory, tar, tar.zst, OCI layout or a tar of one")
      ->required();
  im->callback([&ctx, bundle_path] {
    ctx.action = [&ctx, bundle_path] { return run_import(ctx, *bundle_path); };
  });
}

}  // namespace mb::cli
