// JSON documents and status computation shared by verify/status and the cache commands.
// The layouts are the stable contract documented in docs/cli-json.md.
#pragma once

#include "core/units.hpp"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"
#include "store/layout.hpp"
#include "verify/integrity.hpp"

namespace mb::cli {

// "20G", "512M", "1.5T", "1000" (bytes); binary units (G = GiB).
Result<uint64_t> parse_size(const std::string& text);

nlohmann::ordered_json verify_report_json(const verify::VerifyReport& r, const std::string& cache);

struct StatusEntry {
  std::string name, repo, revision, commit;
  std::string renamed_to;  // from the lock: the hub's new id of a renamed repo
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::string state;   // ready | missing | corrupt | stale-lock
  std::string detail;  // first finding or why the lock is stale
  int64_t fetched_at = 0;
  int64_t last_used = 0;
};

Result<std::vector<StatusEntry>> compute_status(const Manifest& manifest, const Lockfile* lock,
                                                const CacheLayout& cache, bool full);
nlohmann::ordered_json status_json(const std::vector<StatusEntry>& entries, const std::string& cache,
                                   bool ready);

}  // namespace mb::cli
