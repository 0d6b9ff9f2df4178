// `modelbake lock`: manifest -> lock. Each entry's revision is resolved to a commit, the
// commit's files are listed and filtered by include/exclude, and every file gets its size,
// etag and sha256. LFS files carry their sha256 in the listing; regular (git) files only have
// a git blob sha1, so their content is fetched into the store (verified against that sha1)
// to learn the sha256 -- which also means a following fetch finds them in place.
#pragma once

#include <vector>

#include "core/error.hpp"
#include "fetch/engine.hpp"
#include "hub/client.hpp"
#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"

namespace mb::fetch {

// `previous` (may be null) is an earlier lock: a regular file with the same etag and size
// whose sha256 names an object already in the store needs no download.
// With `refused` given, a model the hub refuses for lack of access (auth: a gated or private
// repo without a token) is left out and its error appended there, so that fetch can still
// complete every other model; without it the first error of any model is returned.
Result<Lockfile> create_lock(const Manifest& manifest, const Lockfile* previous,
                             const hub::HubClient& hub, const Store& store, Engine& engine,
                             FetchReport& report, std::vector<Error>* refused = nullptr);

}  // namespace mb::fetch
