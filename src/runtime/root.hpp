// What modelbake-verify was pointed at: a bundle in hub layout (models--org--name/... with
// modelbake.lock at its root), a bundle in flat layout (one folder per lock entry, named by
// its `as:`), or a hub/modelbake cache (the lock comes from --lock).
#pragma once

#include <string>

#include "core/error.hpp"
#include "lock/lockfile.hpp"

namespace mb::runtime {

enum class RootKind { hub_bundle, flat_bundle, cache };
const char* to_string(RootKind k);

struct VerifyRoot {
  RootKind kind = RootKind::flat_bundle;
  std::string path;  // ROOT as given, without trailing '/'
  std::string lock_path;
  Lockfile lock;

  // Folder holding the model's files: <root>/<name> (flat) or the snapshot of the locked
  // commit (hub layouts).
  std::string model_dir(const LockedModel& m) const;
};

// Usage errors: ROOT is not a directory, no lock, unreadable or invalid lock.
Result<VerifyRoot> open_root(const std::string& root, const std::string& lock_flag);

}  // namespace mb::runtime
