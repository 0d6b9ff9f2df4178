// The local half of `verify --repair`: undo exactly what a verify report found broken, and
// restore what can be restored from content already in the object store (after re-hashing
// it). Whatever needs bytes from the hub is returned as a list of models for the fetch engine,
// which then sees a cache with holes (never a wrong file) and fills only those.
//
// The caller holds the cache lock shared, like every writer.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"
#include "verify/integrity.hpp"

namespace mb::verify {

struct RepairResult {
  std::vector<std::string>
      removed;  // paths deleted (broken links, corrupt blobs/objects, stale trees)
  std::vector<std::string> restored;  // refs rewritten, links recreated from a good object
  std::set<std::string> needs_fetch;  // lock entry names whose content must come from the hub
};

Result<RepairResult> repair_locally(const Store& store, const Lockfile& lock,
                                    const VerifyReport& report);

}  // namespace mb::verify
