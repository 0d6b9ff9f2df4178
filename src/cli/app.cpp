#include "cli/app.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/version.hpp"
#include "core/log.hpp"
#include "core/paths.hpp"
#include "store/layout.hpp"

namespace mb::cli {

fetch::HubSettings hub_settings(const Context& ctx, int retries, int metadata_timeout_seconds) {
  fetch::HubSettings h;
  if (!ctx.opts.endpoint.empty()) h.endpoint_flag = ctx.opts.endpoint;
  h.retries = retries;
  h.metadata_timeout = std::chrono::seconds(metadata_timeout_seconds);
  h.user_agent = user_agent();
  return h;
}

void Context::resolve() { m_cache_dir = absolute_path(resolve_cache_dir(opts.cache, env)); }

const std::string& Context::cache_dir() const { return m_cache_dir; }

std::string Context::lock_path() const {
  std::filesystem::path p(opts.manifest);
  return (p.parent_path() / "modelbake.lock").string();
}

bool Context::show_progress() const {
  return !opts.no_progress && !opts.quiet && !opts.json && opts.log_format == "human" &&
         ::isatty(STDERR_FILENO) == 1;
}

CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* sub = app.add_subcommand(name, description);
  sub->fallthrough();
  return sub;
}

// Text from the disk or a server (a cache path, a file name) may be any bytes: invalid UTF-8 is
// replaced, as everywhere else JSON is written, rather than thrown on.
void print_json(const nlohmann::ordered_json& doc) {
  std::cout << doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
            << std::endl;
}

void say(const Context& ctx, const std::string& line) {
  if (!ctx.opts.json && !ctx.opts.quiet) std::cout << line << "\n";
}

int report_error(const Context& ctx, const Error& error, nlohmann::ordered_json doc) {
  int code = exit_code_for(error.category);
  if (ctx.opts.json) {
    if (!doc.is_object()) doc = nlohmann::ordered_json::object();
    doc["ok"] = false;
    doc["error"] = {{"category", to_string(error.category)},
                    {"message", log::redact(error.message)},
                    {"hint", log::redact(error.hint)},
                    {"exit_code", code}};
    print_json(doc);
  }
  // Through the logger, so --log-format json renders it too and redaction applies.
  std::string line = error.message;
  if (!error.hint.empty()) line += "\n  hint: " + error.hint;
  log::error(line);
  return code;
}

static void add_global_options(CLI::App& app, GlobalOptions& o) {
  app.add_option("-f,--manifest", o.manifest, "Manifest file (default ./modelbake.yaml)");
  app.add_option("--cache", o.cache,
                 "Cache directory (default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub)");
  app.add_option("--endpoint", o.endpoint,
                 "Hub endpoint URL (default: HF_ENDPOINT, manifest, https://huggingface.co)");
  app.add_flag("--json", o.json, "Print one machine-readable JSON document on stdout");
  app.add_flag("-q,--quiet", o.quiet, "Only print errors");
  app.add_flag("-v,--verbose", o.verbose, "Print debug details");
  app.add_flag("--no-progress", o.no_progress, "Never draw a progress display");
  app.add_option("--log-format", o.log_format,
                 "Messages on stderr as 'human' lines or 'json' lines (one object a line)")
      ->check(CLI::IsMember({"human", "json"}));
}

int run(int argc, char** argv) {
  Context ctx;
  CLI::App app{
      "modelbake: put machine-learning models into container images, verified and offline-ready",
      "modelbake"};
  app.set_version_flag("--version", std::string("modelbake ") + version());
  app.require_subcommand(1);
  add_global_options(app, ctx.opts);
  register_fetch_commands(app, ctx);
  register_verify_commands(app, ctx);
  register_cache_commands(app, ctx);
  register_bundle_commands(app, ctx);
  register_registry_commands(app, ctx);
  register_serve_commands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  log::configure(ctx.opts.quiet ? log::Level::error
                                : (ctx.opts.verbose ? log::Level::debug : log::Level::info),
                 ctx.opts.log_format == "json" ? log::Format::json : log::Format::human);
  ctx.resolve();
  if (!ctx.action) return report_error(ctx, make_error(ErrorCategory::usage, "no command given"));
  try {
    return ctx.action();
  } catch (const std::exception& e) {
    // Exceptions only reach here for programming errors or exhausted memory.
    return report_error(
        ctx, make_error(ErrorCategory::permanent, std::string("internal error: ") + e.what()));
  }
}

}  // namespace mb::cli
