#include "runtime/root.hpp"

#include <sys/stat.h>

#include "core/paths.hpp"
#include "runtime/confined.hpp"
#include "store/layout.hpp"

namespace mb::runtime {

namespace {

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0;
}

Result<std::string> read_inside(const std::string& root, const std::string& path) {
  MB_ASSIGN(Confinement conf, Confinement::of(root));
  return conf.read(path);
}

}  // namespace

const char* to_string(RootKind k) {
  switch (k) {
    case RootKind::hub_bundle: return "hub bundle";
    case RootKind::flat_bundle: return "flat bundle";
    case RootKind::cache: return "cache";
  }
  return "unknown";
}

std::string VerifyRoot::model_dir(const LockedModel& m) const {
  if (kind == RootKind::flat_bundle) return join_path(path, m.name);
  return CacheLayout(path).snapshot_dir(m.type, m.repo, m.commit);
}

Result<VerifyRoot> open_root(const std::string& root, const std::string& lock_flag) {
  VerifyRoot r;
  r.path = root;
  while (r.path.size() > 1 && r.path.back() == '/') r.path.pop_back();
  if (!is_dir(r.path)) {
    return fail(ErrorCategory::usage, "ROOT " + root + " is not a directory",
                "pass a bundle (hub or flat layout) or a cache directory");
  }
  const std::string bundled = join_path(r.path, "modelbake.lock");
  const bool has_bundled = exists(bundled);
  r.lock_path = lock_flag.empty() ? bundled : lock_flag;
  if (lock_flag.empty() && !has_bundled) {
    return fail(ErrorCategory::usage, root + " has no modelbake.lock at its root",
                "a cache carries no lock: pass --lock FILE");
  }
  // The lock is read like every other file: a FIFO would block forever (a hung HEALTHCHECK),
  // and a bundled lock must not be a link out of ROOT.
  auto text = lock_flag.empty() ? read_inside(r.path, r.lock_path) : read_regular(r.lock_path);
  if (!text.ok()) {
    return fail(ErrorCategory::usage,
                "cannot read lock " + r.lock_path + ": " + text.error().message,
                text.error().hint.empty() ? "create it with 'modelbake lock'" : text.error().hint);
  }
  MB_ASSIGN(r.lock, parse_lock(*text, r.lock_path));
  if (r.lock.models.empty()) {
    return fail(ErrorCategory::usage, r.lock_path + " lists no models", "nothing to verify");
  }
  // Hub layout when any locked repo has its models--org--name folder; a bundle carries its
  // lock, a cache does not (or has modelbake's private area).
  CacheLayout layout(r.path);
  bool hub = false, flat = false;
  for (const auto& m : r.lock.models) {
    hub = hub || is_dir(layout.repo_dir(m.type, m.repo));
    flat = flat || is_dir(join_path(r.path, m.name));
  }
  const bool cache_like =
      !has_bundled || is_dir(layout.private_dir()) || is_dir(layout.legacy_private_dir());
  if (hub) {
    r.kind = cache_like ? RootKind::cache : RootKind::hub_bundle;
  } else if (flat) {
    r.kind = RootKind::flat_bundle;
  } else {
    // Nothing present: report every model missing in the layout the root most likely has.
    r.kind = cache_like ? RootKind::cache : RootKind::flat_bundle;
  }
  return r;
}

}  // namespace mb::runtime
