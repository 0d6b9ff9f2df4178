// The thin CLI: parses options with CLI11, calls into the library, prints results and maps
// the error category to the exit code. Each group of commands lives in its own cmd_*.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "bundle/base_image.hpp"
#include "core/env.hpp"
#include "core/error.hpp"
#include "fetch/hub_setup.hpp"
#include "lock/lockfile.hpp"

namespace mb::cli {

struct GlobalOptions {
  std::string manifest = "modelbake.yaml";
  std::string cache;     // --cache; resolved with the environment once, by Context::resolve()
  std::string endpoint;  // --endpoint
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  bool no_progress = false;
  std::string log_format = "human";  // --log-format human|json
};

struct Context {
  GlobalOptions opts;
  ProcessEnv env;
  SystemClock clock;
  std::function<int()> action;  // set by the chosen subcommand

 private:
  std::string m_cache_dir;

 public:
  // Resolves the run's outside world once, after the options are parsed: the cache directory
  // (--cache, HF_HUB_CACHE, HF_HOME, ~), made absolute and lexically normal, so every command
  // uses and prints the same form of it.
  void resolve();
  const std::string& cache_dir() const;
  // Path of the lock next to the manifest (modelbake.yaml -> modelbake.lock).
  std::string lock_path() const;
  // Whether to draw a live progress display (stderr is a terminal, not -q/--no-progress/--json).
  bool show_progress() const;
};

// The hub set-up of lock, fetch and verify --repair (one function, so no command drops a
// setting): --endpoint, --retries, --metadata-timeout, user agent. The manifest's endpoint is
// added by fetch::run_lock/run_fetch, which read the manifest.
fetch::HubSettings hub_settings(const Context& ctx, int retries, int metadata_timeout_seconds);

// Adds a subcommand that accepts the global options after its name too.
CLI::App* add_command(CLI::App& app, const std::string& name, const std::string& description);

// Prints an error (human or JSON) and returns its exit code. With --json, a non-null `doc`
// (an object) is the document printed, with "ok": false and "error" set in it.
int report_error(const Context& ctx, const Error& error, nlohmann::ordered_json doc = nullptr);
// Prints a JSON document to stdout.
void print_json(const nlohmann::ordered_json& doc);
// Human output to stdout unless --json or -q.
void say(const Context& ctx, const std::string& line);

void register_fetch_commands(CLI::App& app, Context& ctx);     // lock, fetch
void register_verify_commands(CLI::App& app, Context& ctx);    // verify, status
void register_cache_commands(CLI::App& app, Context& ctx);     // ls, du, gc, rm
void register_bundle_commands(CLI::App& app, Context& ctx);    // export, import
void register_registry_commands(CLI::App& app, Context& ctx);  // push, pull
void register_serve_commands(CLI::App& app, Context& ctx);     // serve

// `fetch --from REF`: the registry artifact provides whatever content of `lock` it has
// (verified, published into the cache at `cache_dir`) before the hub is asked for the rest.
struct RegistrySource {
  std::string reference;  // empty = no registry
  bool plain_http = false;
  bool insecure = false;
};
Status prefill_from_registry(Context& ctx, const RegistrySource& source, const Lockfile& lock);
// serve --from: pulls the whole bundle at `source` into the cache, verified against its lock
// (as `modelbake pull` does).
Status pull_into_cache(Context& ctx, const RegistrySource& source);

// --base of export and push: an OCI layout (oci:DIR[:TAG]) or a registry image, whose
// connection `connection` keeps open for as long as `source` is used.
struct OpenedBase {
  std::shared_ptr<void> connection;
  std::unique_ptr<bundle::BaseSource> source;
};
Result<OpenedBase> open_base(Context& ctx, const RegistrySource& base);

int run(int argc, char** argv);

}  // namespace mb::cli
