// serve: a read-only Hugging Face hub mirror of the cache (src/serve, docs/serve.md).
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "cli/app.hpp"
#include "core/log.hpp"
#include "serve/server.hpp"

namespace mb::cli {

namespace {

struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  std::vector<std::string> allow;
  std::string token_file;
  std::string upstream;
  unsigned threads = 0;
  size_t page_size = 1000;
  unsigned idle_timeout = 60;
  unsigned header_timeout = 10;
  unsigned max_connections = 4096;
  unsigned max_per_client = 64;
  unsigned grace = 10;
  bool serve_gated_anonymously = false;
  std::string public_url;
  std::vector<std::string> trusted_proxies;
  std::vector<std::string> from;  // registries holding pushed bundles
  bool plain_http = false;
  bool insecure = false;
};

// Blocks SIGINT/SIGTERM in this thread before the daemon's threads exist (they inherit the
// mask), so the signals are only ever taken by sigwait below.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return set;
}

int run_serve(Context& ctx, const ServeFlags& f) {
  serve::ServeOptions o;
  o.cache = ctx.cache_dir();
  o.listen = f.listen;
  o.allow = f.allow;
  o.json_log = ctx.opts.json;
  o.threads = f.threads;
  o.page_size = f.page_size;
  o.idle_timeout = f.idle_timeout;
  o.header_timeout = f.header_timeout;
  o.max_connections = f.max_connections;
  o.max_connections_per_client = f.max_per_client;
  o.upstream = f.upstream;
  o.hub = hub_settings(ctx, 5, 60);
  o.serve_gated_anonymously = f.serve_gated_anonymously;
  o.public_url = f.public_url;
  o.trusted_proxies = f.trusted_proxies;
  if (!f.from.empty()) {
    // The same pull as `modelbake pull`, verified against each bundle's lock.
    o.registry_pull = [&ctx, f]() -> Status {
      Status first;
      for (const auto& ref : f.from) {
        Status st = pull_into_cache(ctx, RegistrySource{ref, f.plain_http, f.insecure});
        if (!st.ok() && first.ok()) first = st;
      }
      return first;
    };
  }
  o.env = &ctx.env;
  if (!f.token_file.empty()) {
    auto tokens = serve::read_token_file(f.token_file);
    if (!tokens.ok()) return report_error(ctx, tokens.error());
    o.tokens = std::move(*tokens);
  }
  sigset_t stop = block_stop_signals();
  auto server = serve::Server::start(o);
  if (!server.ok()) return report_error(ctx, server.error());
  // Scripts and tests read this first line to find the (possibly OS-chosen) port.
  std::cout << "serving " << (*server)->url() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  (*server)->stop(f.grace * 1000);
  log::info(std::string("serve stopped (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ")");
  if (size_t n = (*server)->upstream_jobs(); n > 0) {
    // Downloads write only to temps that a later fetch resumes; nothing visible is half-done.
    log::info("leaving " + std::to_string(n) + " upstream download(s) unfinished (resumable)");
    std::_Exit(0);
  }
  return 0;
}

}  // namespace

void register_serve_commands(CLI::App& app, Context& ctx) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = add_command(
      app, "serve", "Serve the cache as a read-only Hugging Face hub mirror (HF_ENDPOINT)");
  cmd->add_option("--listen", flags->listen, "HOST:PORT to listen on (port 0: any free port)");
  cmd->add_option("--allow", flags->allow,
                  "Serve only repos matching this glob ('org/*', 'datasets/org/*'); repeatable");
  cmd->add_option("--upstream", flags->upstream,
                  "Pull-through: fetch what the cache lacks from this hub (token from HF_TOKEN, "
                  "sent only there)");
  cmd->add_option("--token-file", flags->token_file,
                  "Clients must send one of the bearer tokens in this file (one per line)");
  cmd->add_flag("--serve-gated-anonymously", flags->serve_gated_anonymously,
                "Also serve repos that are gated or private upstream to clients without a "
                "mirror token (they were fetched with your token)");
  cmd->add_option("--public-url", flags->public_url,
                  "The URL clients reach this mirror at (behind TLS or a path prefix), for the "
                  "absolute URLs it sends (pagination Link)");
  cmd->add_option("--trusted-proxy", flags->trusted_proxies,
                  "IP address of a reverse proxy whose X-Forwarded-Proto/Host/Prefix headers are "
                  "believed; repeatable");
  cmd->add_option("--from", flags->from,
                  "Fill misses from the bundle pushed to this OCI reference (REGISTRY/REPO:TAG) "
                  "before asking the hub; repeatable");
  cmd->add_flag("--plain-http", flags->plain_http, "--from registries over http://");
  cmd->add_flag("--insecure", flags->insecure, "--from registries: skip TLS verification");
  cmd->add_option("--threads", flags->threads, "Server threads (default: CPU count, at least 2)");
  cmd->add_option("--page-size", flags->page_size, "Tree listing entries per page")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--idle-timeout", flags->idle_timeout,
                  "Seconds before a silent connection is closed")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--header-timeout", flags->header_timeout,
                  "Seconds a client has to send a request's headers, however slowly bytes come")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--max-connections", flags->max_connections, "Open connections at most")
      ->check(CLI::Range(16, 1000000));
  cmd->add_option("--max-connections-per-client", flags->max_per_client,
                  "Open connections at most per client IP address (raise it behind a proxy)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--grace", flags->grace,
                  "Seconds in-flight responses may take to finish on SIGTERM/SIGINT")
      ->check(CLI::Range(0, 3600));
  cmd->callback([&ctx, flags] { ctx.action = [&ctx, flags] { return run_serve(ctx, *flags); }; });
}

}  // namespace mb::cli
