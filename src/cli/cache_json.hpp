// JSON documents shared by verify/status and the cache commands.
// The layouts are the stable contract documented in docs/cli-json.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/units.hpp"
#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"
#include "store/layout.hpp"
#include "verify/integrity.hpp"
#include "verify/status.hpp"

namespace mb::cli {

// "20G", "512M", "1.5T", "1000" (bytes); binary units (G = GiB).
Result<uint64_t> parse_size(const std::string& text);

nlohmann::ordered_json verify_report_json(const verify::VerifyReport& r, const std::string& cache);

// What `status` asks verify::compute_status for: every manifest entry, judged stale by
// manifest's lock_entry_difference.
std::vector<verify::StatusRequest> status_requests(const Manifest& manifest);
nlohmann::ordered_json status_json(const std::vector<verify::StatusEntry>& entries,
                                   const std::string& cache, bool ready);

}  // namespace mb::cli
