// export / import: bundles for multi-stage image builds (docs/bundles.md).
#include <memory>

#include "bundle/export.hpp"
#include "bundle/import.hpp"
#include "bundle/plan.hpp"
#include "cli/app.hpp"
#include "core/hash.hpp"
#include "lock/lockfile.hpp"
#include "oci/artifact_layout.hpp"
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
  std::string base;
  bool plain_http = false;
  bool insecure = false;
};

Result<bundle::ExportOptions> export_options(const Context& ctx, const ExportArgs& a) {
  bundle::ExportOptions o;
  o.output = a.output;
  auto format = bundle::parse_format(a.format);
  if (!format)
    return fail(ErrorCategory::usage, "unknown --format '" + a.format + "'",
                "use dir, tar, tar.zst, oci, modelpack or docker-model");
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

// --format modelpack | docker-model: the artifact push sends, as an OCI layout.
int run_export_artifact(Context& ctx, const ExportArgs& a, oci::Artifact kind) {
  if (!a.base.empty() || a.prefix_given || a.layout != "hub") {
    return report_error(ctx, make_error(ErrorCategory::usage,
                                        "--base, --prefix and --layout apply to --format oci only",
                                        "an artifact's layers are the locked files themselves"));
  }
  auto lock = read_lock(ctx.lock_path());
  if (!lock.ok()) return report_error(ctx, lock.error());
  Store store{CacheLayout(ctx.cache_dir())};
  bundle::LayoutExport le;
  le.output = a.output;
  if (!a.tag.empty()) le.tag = a.tag;
  le.force = a.force;
  le.sync = a.no_sync ? Sync::no : Sync::yes;
  auto art = oci::export_artifact(*lock, store, kind, le);
  if (!art.ok()) return report_error(ctx, art.error().with_context("export"));
  uint64_t files = 0, bytes = 0;
  for (const auto& m : lock->models) {
    files += m.files.size();
    bytes += m.total_bytes();
  }
  if (ctx.opts.json) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const auto& l : art->manifest.layers) {
      layers.push_back({{"mediaType", l.media_type},
                        {"digest", l.digest},
                        {"size", l.size},
                        {"path", l.annotations.at(std::string(oci::annotation::filepath))}});
    }
    print_json({{"ok", true},
                {"output", a.output},
                {"format", a.format},
                {"tag", le.tag},
                {"models", lock->models.size()},
                {"files", files},
                {"bytes", bytes},
                {"manifest_digest", "sha256:" + sha256_hex(art->manifest_json)},
                {"config_digest", art->manifest.config.digest},
                {"layers", layers}});
  } else {
    say(ctx, "exported " + std::to_string(files) + " file(s), " + std::to_string(bytes) +
                 " bytes to " + a.output + " (" + a.format +
                 ", manifest sha256:" + sha256_hex(art->manifest_json) + ")");
  }
  return 0;
}

int run_export(Context& ctx, const ExportArgs& a) {
  if (a.format == "modelpack") return run_export_artifact(ctx, a, oci::Artifact::modelpack);
  if (a.format == "docker-model") return run_export_artifact(ctx, a, oci::Artifact::docker_model);
  auto opts = export_options(ctx, a);
  if (!opts.ok()) return report_error(ctx, opts.error());
  auto lock = read_lock(ctx.lock_path());
  if (!lock.ok()) return report_error(ctx, lock.error());
  Store store{CacheLayout(ctx.cache_dir())};
  OpenedBase base;
  if (!a.base.empty()) {
    auto opened = open_base(ctx, RegistrySource{a.base, a.plain_http, a.insecure});
    if (!opened.ok()) return report_error(ctx, opened.error().with_context("export"));
    base = std::move(*opened);
    opts->base = base.source.get();
  }
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
      doc["base_layers"] = result->image->base_layers.size();
      if (!result->image->platforms.empty()) {
        auto platforms = nlohmann::ordered_json::array();
        for (const auto& p : result->image->platforms) {
          platforms.push_back({{"platform", p.platform},
                               {"manifest_digest", p.manifest.digest},
                               {"config_digest", p.config.digest},
                               {"base_layers", p.base_layers.size()}});
        }
        doc["platforms"] = platforms;
      }
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

// A ModelPack or Docker Model Runner layout (export --format modelpack|docker-model).
int run_import_artifact(Context& ctx, const std::string& path) {
  Store store{CacheLayout(ctx.cache_dir())};
  oci::PullOptions po;
  po.unix_now = ctx.clock.unix_seconds();
  auto result = oci::import_artifact_layout(path, store, po);
  if (!result.ok()) return report_error(ctx, result.error().with_context("import " + path));
  uint64_t files = 0, bytes = 0;
  for (const auto& m : result->lock.models) {
    files += m.files.size();
    bytes += m.total_bytes();
  }
  if (ctx.opts.json) {
    print_json({{"ok", true},
                {"bundle", path},
                {"format", result->artifact},
                {"cache", store.layout().root()},
                {"models", result->lock.models.size()},
                {"files", files},
                {"bytes", bytes},
                {"objects_added", result->blobs_transferred}});
  } else {
    say(ctx, "imported " + std::to_string(result->lock.models.size()) + " model(s), " +
                 std::to_string(files) + " file(s) into " + store.layout().root() + " (" +
                 result->artifact + ", verified)");
  }
  return 0;
}

int run_import(Context& ctx, const std::string& path) {
  if (oci::is_artifact_layout(path)) return run_import_artifact(ctx, path);
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
  ex->add_option("--format", a->format,
                 "dir | tar | tar.zst | oci | modelpack | docker-model (default dir)");
  ex->add_option("--layout", a->layout,
                 "hub (HF cache tree, default) | flat (one folder per model named by its 'as:')");
  ex->add_option("--prefix", a->prefix,
                 "Folder inside archives/images (default: bundle root; /models for oci)")
      ->each([a](const std::string&) { a->prefix_given = true; });
  ex->add_option("--tag", a->tag,
                 "Image reference name:tag for --format oci (default models:latest)");
  ex->add_option("--base", a->base,
                 "--format oci: stack the model layers on this image, oci:DIR[:TAG] or a registry\n"
                 "reference (its config, env, entrypoint and platforms are kept)");
  ex->add_flag("--plain-http", a->plain_http, "--base from a registry over http://");
  ex->add_flag("--insecure", a->insecure, "--base: do not verify the registry's TLS certificate");
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
