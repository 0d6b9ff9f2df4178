// push / pull: OCI registries as the shared model store (docs/registry-protocol.md).
#include <fmt/format.h>

#include <memory>

#include "app/version.hpp"
#include "bundle/export.hpp"
#include "bundle/plan.hpp"
#include "cli/app.hpp"
#include "core/log.hpp"
#include "lock/lockfile.hpp"
#include "net/curl_transport.hpp"
#include "oci/auth.hpp"
#include "oci/base_source.hpp"
#include "oci/transfer.hpp"
#include "store/store.hpp"

namespace mb::cli {

namespace {

struct RegistryArgs {
  std::string reference;
  std::string artifact = "image";
  bool plain_http = false;
  bool insecure = false;
  int parallel = 4;
  std::string layout = "hub";
  std::string prefix = "models";
  std::string write_lock;
  uint64_t chunk_mib = 256;
  std::string base;
};

// Everything a registry command needs; the transport outlives the client using it.
struct Session {
  oci::Reference ref;
  std::unique_ptr<net::CurlTransport> transport;
  std::unique_ptr<oci::RegistryClient> client;
};

Result<Session> open_session(Context& ctx, const RegistryArgs& a) {
  Session s;
  MB_ASSIGN(s.ref, oci::parse_reference(a.reference));
  if (a.parallel < 1 || a.parallel > 32)
    return fail(ErrorCategory::usage, "--parallel must be between 1 and 32");
  if (a.chunk_mib < 1) return fail(ErrorCategory::usage, "--chunk-size must be at least 1 MiB");
  PosixProcessRunner helpers;  // docker-credential-<name> programs
  MB_ASSIGN(auto creds, oci::lookup_credentials(ctx.env, s.ref.registry, helpers));
  net::CurlOptions curl;
  curl.user_agent = user_agent();
  MB_ASSIGN(s.transport, net::CurlTransport::create(curl));
  oci::ClientOptions o;
  o.plain_http = a.plain_http;
  o.insecure = a.insecure;
  o.chunk_threshold = a.chunk_mib << 20;
  o.chunk_size = std::min<uint64_t>(o.chunk_threshold, 64ull << 20);
  s.client = std::make_unique<oci::RegistryClient>(*s.transport, ctx.clock, s.ref.registry,
                                                   std::move(creds), o);
  return s;
}

nlohmann::ordered_json summary_json(const oci::Reference& ref, const oci::TransferSummary& s) {
  return {{"ok", true},
          {"reference", ref.str()},
          {"digest", s.digest},
          {"artifact", s.artifact},
          {"blobs", s.blobs},
          {"blobs_present", s.blobs_present},
          {"blobs_transferred", s.blobs_transferred},
          {"blobs_mounted", s.blobs_mounted},
          {"bytes_transferred", s.bytes_transferred},
          {"requests",
           {{"HEAD", s.requests.heads},
            {"GET", s.requests.gets},
            {"POST", s.requests.posts},
            {"PUT", s.requests.puts},
            {"PATCH", s.requests.patches}}}};
}

int run_push(Context& ctx, const RegistryArgs& a) {
  auto run = [&]() -> Result<int> {
    oci::PushOptions opts;
    if (a.artifact == "image") {
      opts.artifact = oci::Artifact::image;
    } else if (a.artifact == "modelpack") {
      opts.artifact = oci::Artifact::modelpack;
    } else if (a.artifact == "docker-model") {
      opts.artifact = oci::Artifact::docker_model;
    } else {
      return fail(ErrorCategory::usage, "unknown --artifact '" + a.artifact + "'",
                  "use image, modelpack or docker-model");
    }
    auto layout = bundle::parse_layout(a.layout);
    if (!layout)
      return fail(ErrorCategory::usage, "unknown --layout '" + a.layout + "'", "use hub or flat");
    opts.image.layout = *layout;
    MB_ASSIGN(opts.image.prefix, bundle::normalize_prefix(a.prefix));
    if (opts.image.prefix.empty())
      return fail(ErrorCategory::usage, "--prefix must name a folder",
                  "for example --prefix /models");
    MB_ASSIGN(opts.image.epoch, source_date_epoch(ctx.env));
    opts.parallel = a.parallel;
    MB_ASSIGN(auto lock, read_lock(ctx.lock_path()));
    MB_ASSIGN(auto session, open_session(ctx, a));
    Store store{CacheLayout(ctx.cache_dir())};
    OpenedBase base;
    if (!a.base.empty()) {
      if (opts.artifact != oci::Artifact::image)
        return fail(ErrorCategory::usage, "--base only applies to --artifact image");
      MB_ASSIGN(base, open_base(ctx, RegistrySource{a.base, a.plain_http, a.insecure}));
      opts.base = base.source.get();
    }
    MB_ASSIGN(auto summary, oci::push_bundle(*session.client, session.ref, lock, store, opts));
    if (ctx.opts.json) {
      print_json(summary_json(session.ref, summary));
    } else {
      say(ctx, fmt::format("pushed {}@{} ({}: {} blobs uploaded, {} already present, "
                           "{} mounted, {} bytes)",
                           session.ref.str(), summary.digest, summary.artifact,
                           summary.blobs_transferred, summary.blobs_present, summary.blobs_mounted,
                           summary.bytes_transferred));
    }
    return 0;
  };
  auto r = run();
  return r.ok() ? *r : report_error(ctx, r.error());
}

int run_pull(Context& ctx, const RegistryArgs& a) {
  auto run = [&]() -> Result<int> {
    MB_ASSIGN(auto session, open_session(ctx, a));
    Store store{CacheLayout(ctx.cache_dir())};
    oci::PullOptions opts;
    opts.parallel = a.parallel;
    opts.unix_now = ctx.clock.unix_seconds();
    MB_ASSIGN(auto summary, oci::pull_bundle(*session.client, session.ref, store, opts));
    if (!a.write_lock.empty()) MB_TRY(write_lock(a.write_lock, summary.lock));
    if (ctx.opts.json) {
      auto doc = summary_json(session.ref, summary);
      doc["cache"] = ctx.cache_dir();
      nlohmann::ordered_json models = nlohmann::ordered_json::array();
      for (const auto& m : summary.lock.models)
        models.push_back({{"name", m.name}, {"repo", m.repo}, {"commit", m.commit}});
      doc["models"] = models;
      print_json(doc);
    } else {
      say(ctx, fmt::format("pulled {}@{} into {} ({}, {} models, {} blobs downloaded, "
                           "{} already cached, verified)",
                           session.ref.str(), summary.digest, store.layout().root(),
                           summary.artifact, summary.lock.models.size(), summary.blobs_transferred,
                           summary.blobs_present));
    }
    return 0;
  };
  auto r = run();
  return r.ok() ? *r : report_error(ctx, r.error());
}

void add_connection_options(CLI::App* cmd, RegistryArgs& a) {
  cmd->add_option("reference", a.reference, "REGISTRY[:PORT]/REPO[:TAG][@sha256:DIGEST]")
      ->required();
  cmd->add_flag("--plain-http", a.plain_http,
                "Talk http:// instead of https:// (local test registries)");
  cmd->add_flag("--insecure", a.insecure, "Do not verify the registry's TLS certificate");
  cmd->add_option("--parallel", a.parallel, "Concurrent blob transfers (default 4)");
}

// The registry flags of `fetch --from`, `serve --from` and `--base`, as the session takes them.
RegistryArgs registry_args(const RegistrySource& source) {
  RegistryArgs a;
  a.reference = source.reference;
  a.plain_http = source.plain_http;
  a.insecure = source.insecure;
  return a;
}

}  // namespace

Status prefill_from_registry(Context& ctx, const RegistrySource& source, const Lockfile& lock) {
  RegistryArgs a = registry_args(source);
  MB_ASSIGN(auto session, open_session(ctx, a));
  Store store{CacheLayout(ctx.cache_dir())};
  oci::PullOptions opts;
  opts.unix_now = ctx.clock.unix_seconds();
  auto outcome = oci::prefill_or_fall_back(*session.client, session.ref, lock, store, opts);
  if (!outcome.ok()) return outcome.error().with_context("--from " + session.ref.str());
  if (outcome->fell_back) {
    Error e = outcome->fell_back->with_context("--from " + session.ref.str());
    log::warn(log::redact(e.describe()) + "; fetching everything from the hub");
    return {};
  }
  log::info("--from " + session.ref.str() + ": " + std::to_string(outcome->files) +
            " files from the registry");
  return {};
}

Result<OpenedBase> open_base(Context& ctx, const RegistrySource& base) {
  OpenedBase out;
  if (bundle::is_layout_base(base.reference)) {
    MB_ASSIGN(out.source, bundle::open_layout_base(base.reference));
    return out;
  }
  RegistryArgs a = registry_args(base);
  auto session = open_session(ctx, a);
  if (!session.ok()) return session.take_error().with_context("--base");
  auto held = std::make_shared<Session>(std::move(*session));
  auto store = std::make_shared<Store>(CacheLayout(ctx.cache_dir()));
  out.source = oci::registry_base(*held->client, held->ref, *store);
  out.connection =
      std::make_shared<std::pair<std::shared_ptr<Session>, std::shared_ptr<Store>>>(held, store);
  return out;
}

Status pull_into_cache(Context& ctx, const RegistrySource& source) {
  RegistryArgs a = registry_args(source);
  MB_ASSIGN(auto session, open_session(ctx, a));
  Store store{CacheLayout(ctx.cache_dir())};
  oci::PullOptions opts;
  opts.unix_now = ctx.clock.unix_seconds();
  auto summary = oci::pull_bundle(*session.client, session.ref, store, opts);
  if (!summary.ok()) return summary.error().with_context("--from " + session.ref.str());
  return {};
}

void register_registry_commands(CLI::App& app, Context& ctx) {
  auto push_args = std::make_shared<RegistryArgs>();
  CLI::App* push =
      add_command(app, "push", "Push the locked models from the cache to an OCI registry");
  add_connection_options(push, *push_args);
  push->add_option("--artifact", push_args->artifact,
                   "image (default: the image 'export --format oci' writes) | modelpack (CNCF "
                   "ModelPack, raw layer per file) | docker-model (Docker Model Runner)");
  push->add_option("--layout", push_args->layout, "image layout: hub (default) | flat");
  push->add_option("--prefix", push_args->prefix,
                   "image folder holding the models (default /models)");
  push->add_option("--base", push_args->base,
                   "Stack the model layers on this image: oci:DIR[:TAG] or a registry reference\n"
                   "(its config, env, entrypoint and platforms are kept)");
  push->add_option("--chunk-size", push_args->chunk_mib,
                   "Blobs of at least this many MiB are uploaded in PATCH chunks (default 256)");
  push->callback(
      [&ctx, push_args] { ctx.action = [&ctx, push_args] { return run_push(ctx, *push_args); }; });

  auto pull_args = std::make_shared<RegistryArgs>();
  CLI::App* pull = add_command(
      app, "pull", "Pull a bundle from an OCI registry into the cache, verified against its lock");
  add_connection_options(pull, *pull_args);
  pull->add_option("--write-lock", pull_args->write_lock,
                   "Also write the bundled lock to this file");
  pull->callback(
      [&ctx, pull_args] { ctx.action = [&ctx, pull_args] { return run_pull(ctx, *pull_args); }; });
}

}  // namespace mb::cli
