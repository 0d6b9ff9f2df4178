// modelbake-verify: the small offline verifier that goes into the runtime image. It links
// only mb_runtime -> mb_base (C++ runtime and libcrypto): no libcurl, no libarchive, no
// yaml-cpp. Arguments are parsed by hand to keep the binary small. See docs/modelbake-verify.md.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "core/env.hpp"
#include "runtime/memory.hpp"
#include "runtime/report.hpp"
#include "runtime/root.hpp"
#include "runtime/verifier.hpp"

namespace {

constexpr int k_exit_ready = 0;
constexpr int k_exit_not_ready = 1;
constexpr int k_exit_usage = 2;

const char* const k_usage =
    "usage: modelbake-verify [--lock FILE] [--infer] [--json] [--max-memory SIZE] [--threads N] ROOT\n"
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
    "\n"
    "Exit status: 0 every model ready, 1 a model failed a check, 2 usage error.\n";

struct Args {
  std::string root;
  std::string lock;
  bool infer = false;
  bool json = false;
  bool help = false;
  std::string max_memory;
  std::string threads;
};


// Parses argv; returns a message on error. Accepts "--opt value" and "--opt=value".
std::string parse_args(int argc, char** argv, Args& a) {
  bool positional_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (positional_only || arg.empty() || arg[0] != '-' || arg == "-") {
      if (!a.root.empty()) return "more than one ROOT given ('" + a.root + "' and '" + std::string(arg) + "')";
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
  return "";
}

int usage_error(const std::string& message, const std::string& hint = "") {
  std::fprintf(stderr, "modelbake-verify: error: %s\n", message.c_str());
  if (!hint.empty()) std::fprintf(stderr, "  hint: %s\n", hint.c_str());
  std::fprintf(stderr, "Run 'modelbake-verify --help' for usage.\n");
  return k_exit_usage;
}

int run(int argc, char** argv) {
  Args args;
  if (std::string err = parse_args(argc, argv, args); !err.empty()) return usage_error(err);
  if (args.help) {
    std::fputs(k_usage, stdout);
    return k_exit_ready;
  }
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
    if (*end != '\0' || n == 0 || n > 1024) return usage_error("--threads must be between 1 and 1024");
    opts.threads = static_cast<unsigned>(n);
  }
  // Test hook: read /proc and /sys below another root (fake cgroup limits).
  mb::ProcessEnv env;
  if (auto sys_root = env.get("MODELBAKE_VERIFY_SYS_ROOT")) opts.sys_root = *sys_root;

  auto root = mb::runtime::open_root(args.root, args.lock);
  if (!root.ok()) return usage_error(root.error().message, root.error().hint);
  mb::SystemClock clock;
  mb::runtime::RunReport report = mb::runtime::run_verifier(*root, opts, clock);
  if (args.json) {
    std::string text = mb::runtime::to_json(report).dump(2, ' ', false,
                                                         nlohmann::json::error_handler_t::replace);
    std::fputs((text + "\n").c_str(), stdout);
  } else {
    std::fputs(mb::runtime::render_human(report).c_str(), stdout);
  }
  if (std::fflush(stdout) != 0) return k_exit_not_ready;
  return report.all_ready() ? k_exit_ready : k_exit_not_ready;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelbake-verify: internal error: %s\n", e.what());
    return k_exit_not_ready;
  }
}
