// What `modelbake lock` and `modelbake fetch` print: the --json document (docs/cli-json.md,
// docs/fetch.md#output) and the human lines, both rendered from the same fetch::RunOutcome.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fetch/run.hpp"

namespace mb::cli {

// `command` is "lock" or "fetch". Messages are redacted.
nlohmann::ordered_json outcome_json(const char* command, const fetch::RunOutcome& outcome);

// `lock`: one line per locked model and "wrote <lock>", or the offline "kept as it is" line.
std::vector<std::string> lock_lines(const fetch::RunOutcome& outcome);

// `fetch` that succeeded: one line per model and the totals.
std::vector<std::string> fetch_lines(const fetch::RunOutcome& outcome,
                                     const std::string& cache_dir);

}  // namespace mb::cli
