// What `modelbake verify` and `modelbake status` print: the --json documents (docs/cli-json.md)
// and the human lines, both rendered from the outcome of verify::run_verify / run_status.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "verify/run.hpp"
#include "verify/status.hpp"

namespace mb::cli {

// The verify report document, with "repair" when a repair ran.
nlohmann::ordered_json verify_outcome_json(const verify::VerifyOutcome& outcome);

// "repaired <kind>: <message>" per finding a repair dealt with, then the report: per model
// and its findings, the verdict, the fix, and the runtime environment for the cache.
std::vector<std::string> verify_lines(const verify::VerifyOutcome& outcome);

// One line per manifest entry: state, name, repo@revision, commit, size, detail.
std::vector<std::string> status_lines(const verify::StatusOutcome& outcome);

}  // namespace mb::cli
