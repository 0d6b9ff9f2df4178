// `modelbake import`: reads a bundle in any export format (directory, tar, tar.zst, OCI image
// layout as a directory or a tar), checks every entry against the lock the bundle carries,
// verifies size, sha256 and (where the etag is one) git blob sha1 of every file, and only then
// adds the content to the cache (objects, blobs, snapshots, refs). A bundle that fails any
// check leaves nothing behind but the removal of its own temp directory.
#pragma once

#include <cstdint>
#include <string>

#include "bundle/oci_image.hpp"
#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "store/store.hpp"

namespace mb::bundle {

struct ImportOptions {
  int64_t unix_now = 0;  // recorded as fetched_at/last_used of each snapshot
};

struct ImportResult {
  std::string format;  // dir, tar, oci, oci-tar
  Layout layout = Layout::hub;
  Lockfile lock;  // the bundle's lock
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t objects_added = 0;
};

Result<ImportResult> import_bundle(const std::string& bundle, const Store& store,
                                   const ImportOptions& opts);

}  // namespace mb::bundle
