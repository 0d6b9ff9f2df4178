// modelbake-verify: the small offline verifier that goes into the runtime image. It links
// only mb_runtime -> mb_base (C++ runtime and libcrypto): no libcurl, no libarchive, no
// yaml-cpp. Arguments are parsed by hand to keep the binary small. See docs/modelbake-verify.md.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "core/env.hpp"
#include "core/log.hpp"
#include "runtime/health.hpp"
#include "runtime/memory.hpp"
#include "runtime/report.hpp"
#include "runtime/root.hpp"
#include "runtime/verifier.hpp"
#include "runtime/watchdog.hpp"

namespace {

constexpr int k_exit_ready = 0;
constexpr int k_exit_not_ready = 1;
constexpr int k_exit_usage = 2;

const char* const k_usage =
    "usage: modelbake-verify [--lock FILE] [--infer] [--json] [--max-memory SIZE] [--threads N]\n"
    "                        [--stamp] [--stamp-file PATH] [--timeout DURATION] ROOT\n"
    "       modelbake-verify --health [--stamp-file PATH] [--timeout DURATION] [--json] ROOT\n"
    "\n"
    "Checks, offline, that every model of a bundle (hub or flat layout) or cache is intact,\n"
    "consistent, within the memory budget and (with --infer) computes.\n"
    "\n"
    "  ROOT               bundle (with modelbake.lock at its root) or cache directory\n"
    "  --lock FILE        lock to check against (required for a cache)\n"
    "  --infer            run one inference per BERT-family model\n"
    "  --json             print a JSON report on stdout\n"
    "  --max-memory SIZE  fail a model that needs more than SIZE to load (e.g. 4G)\n"
    "  --threads N        hashing threads (default: all cores)\n"
    "  --stamp            after a full check with every model ready, write the stamp that\n"
    "                     --health compares against (image build: RUN ... --stamp /models)\n"
    "  --health           cheap check for HEALTHCHECK: stats every file and reads only\n"
    "                     structure headers; fails if anything changed since the stamp\n"
    "  --stamp-file PATH  where the stamp is (default ROOT/.modelbake-verify.stamp)\n"
    "  --timeout DURATION give up after DURATION (250ms, 10s, 2m) with exit 1; default 10s\n"
    "                     for --health, no limit otherwise\n"
    "\n"
    "Exit status: 0 every model ready, 1 a model failed a check (or the health check, or the\n"
    "time limit), 2 usage error.\n";

constexpr std::chrono::milliseconds k_default_health_timeout{10'000};

struct Args {
  std::string root;
  std::string lock;
  bool infer = false;
  bool json = false;
  bool help = false;
  std::string max_memory;
  std::string threads;
  bool stamp = false;
  bool health = false;
  std::string stamp_file;
  std::string timeout;
};

// Parses argv; returns a message on error. Accepts "--opt value" and "--opt=value".
std::string parse_args(int argc, char** argv, Args& a) {
  bool positional_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (positional_only || arg.empty() || arg[0] != '-' || arg == "-") {
      if (!a.root.empty())
        return "more than one ROOT given ('" + a.root + "' and '" + std::string(arg) + "')";
      a.root = arg;
      continue;
    }
    if (arg == "--") {
      positional_only = true;
      continue;
    }
    std::string name(arg), value;
    bool inline_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    auto take = [&](std::string& out) -> std::string {
      if (inline_value) {
        out = value;
      } else if (i + 1 < argc) {
        out = argv[++i];
      } else {
        return "option " + name + " needs a value";
      }
      if (out.empty()) return "option " + name + " needs a non-empty value";
      return "";
    };
    std::string err;
    if (name == "--lock") {
      err = take(a.lock);
    } else if (name == "--max-memory") {
      err = take(a.max_memory);
    } else if (name == "--threads") {
      err = take(a.threads);
    } else if (name == "--stamp-file") {
      err = take(a.stamp_file);
    } else if (name == "--timeout") {
      err = take(a.timeout);
    } else if (name == "--stamp") {
      if (inline_value) return "option " + name + " takes no value";
      a.stamp = true;
    } else if (name == "--health") {
      if (inline_value) return "option " + name + " takes no value";
      a.health = true;
    } else if (inline_value) {
      return "option " + name + " takes no value";
    } else if (name == "--infer") {
      a.infer = true;
    } else if (name == "--json") {
      a.json = true;
    } else if (name == "-h" || name == "--help") {
      a.help = true;
    } else {
      return "unknown option " + name;
    }
    if (!err.empty()) return err;
  }
  if (a.root.empty() && !a.help) return "ROOT is required";
  if (a.stamp && a.health)
    return "--stamp and --health are different runs: stamp at build time, --health later";
  if (a.health && (a.infer || !a.lock.empty() || !a.max_memory.empty() || !a.threads.empty())) {
    return "--health takes only --stamp-file, --timeout and --json (the full check ran at --stamp "
           "time)";
  }
  if (!a.stamp_file.empty() && !a.stamp && !a.health)
    return "--stamp-file needs --stamp or --health";
  return "";
}

int usage_error(const std::string& message, const std::string& hint = "") {
  mb::log::error(message + (hint.empty() ? "" : "\n  hint: " + hint) +
                 "\nRun 'modelbake-verify --help' for usage.");
  return k_exit_usage;
}

int print(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  return std::fflush(stdout) == 0 ? k_exit_ready : k_exit_not_ready;
}

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string trimmed(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

int run_health(const Args& args) {
  const std::string root = trimmed(args.root);
  const std::string stamp =
      args.stamp_file.empty() ? mb::runtime::default_stamp_path(root) : args.stamp_file;
  mb::runtime::HealthReport rep = mb::runtime::check_health(root, stamp);
  if (print(args.json ? dump(mb::runtime::to_json(rep)) : mb::runtime::render_human(rep)) !=
      k_exit_ready) {
    return k_exit_not_ready;
  }
  return rep.ok() ? k_exit_ready : k_exit_not_ready;
}

// The full check; with --stamp, records the stamp when every model is ready and removes a
// stale one otherwise (a later --health must not pass on an old stamp).
int run_full(const Args& args) {
  mb::runtime::VerifierOptions opts;
  opts.infer = args.infer;
  if (!args.max_memory.empty()) {
    auto mem = mb::runtime::parse_memory_size(args.max_memory);
    if (!mem.ok()) return usage_error("--max-memory: " + mem.error().message, mem.error().hint);
    opts.max_memory = *mem;
  }
  if (!args.threads.empty()) {
    char* end = nullptr;
    unsigned long n = std::strtoul(args.threads.c_str(), &end, 10);
    if (*end != '\0' || n == 0 || n > 1024)
      return usage_error("--threads must be between 1 and 1024");
    opts.threads = static_cast<unsigned>(n);
  }
  // Test hook: read /proc and /sys below another root (fake cgroup limits).
  mb::ProcessEnv env;
  if (auto sys_root = env.get("MODELBAKE_VERIFY_SYS_ROOT")) opts.sys_root = *sys_root;

  auto root = mb::runtime::open_root(args.root, args.lock);
  if (!root.ok()) return usage_error(root.error().message, root.error().hint);
  mb::SystemClock clock;
  mb::runtime::RunReport report = mb::runtime::run_verifier(*root, opts, clock);
  std::string stamp;
  std::optional<mb::Error> stamp_error;
  if (args.stamp) {
    stamp = args.stamp_file.empty() ? mb::runtime::default_stamp_path(root->path) : args.stamp_file;
    if (!report.all_ready()) {
      if (::unlink(stamp.c_str()) == 0) mb::log::info("removed the stale stamp " + stamp);
    } else if (mb::Status s = mb::runtime::write_stamp(*root, stamp, args.infer); !s.ok()) {
      stamp_error = s.error();
    }
  }
  const bool stamped = args.stamp && report.all_ready() && !stamp_error;
  std::string text;
  if (args.json) {
    auto j = mb::runtime::to_json(report);
    if (args.stamp)
      j["stamp"] = stamped ? nlohmann::ordered_json(stamp) : nlohmann::ordered_json(nullptr);
    text = dump(j);
  } else {
    text = mb::runtime::render_human(report);
    if (stamped) text += "stamp written to " + stamp + "\n";
  }
  if (print(text) != k_exit_ready) return k_exit_not_ready;
  if (stamp_error) {
    mb::log::error("cannot write the stamp " + stamp + ": " + stamp_error->message +
                   "\n  hint: ROOT must be writable at build time, or pass --stamp-file PATH "
                   "(and the same --stamp-file to --health)");
    return k_exit_not_ready;
  }
  return report.all_ready() ? k_exit_ready : k_exit_not_ready;
}

int run(int argc, char** argv) {
  Args args;
  if (std::string err = parse_args(argc, argv, args); !err.empty()) return usage_error(err);
  if (args.help) return print(k_usage);
  std::optional<std::chrono::milliseconds> limit;
  if (!args.timeout.empty()) {
    limit = mb::runtime::parse_duration(args.timeout);
    if (!limit)
      return usage_error("--timeout: '" + args.timeout + "' is not a duration",
                         "e.g. 500ms, 10s, 2m");
  } else if (args.health) {
    limit = k_default_health_timeout;
  }
  std::optional<mb::runtime::Watchdog> watchdog;
  if (limit) {
    // Not through the logger: the watchdog writes from its own thread while the main thread
    // may be stuck anywhere, even inside the logger; it writes its bytes and exits.
    watchdog.emplace(
        *limit,
        "modelbake-verify: error: gave up after " +
            (args.timeout.empty() ? std::to_string(k_default_health_timeout.count() / 1000) + "s"
                                  : args.timeout) +
            " (--timeout): reading " + args.root +
            " did not finish\n"
            "  hint: the filesystem may be hung or very slow; check the mount\n",
        k_exit_not_ready);
  }
  return args.health ? run_health(args) : run_full(args);
}

}  // namespace

int main(int argc, char** argv) {
  mb::log::set_program("modelbake-verify");
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    mb::log::error(std::string("internal error: ") + e.what());
    return k_exit_not_ready;
  }
}
