// modelbake-verify's checks, per locked model and in order, stopping at the first failure:
// 1 integrity (shared with `modelbake verify`), 2 structure (bounded format readers, plus a
// sampled NaN/Inf scan of float weights), 3 consistency, 4 memory budget, 5 with --infer a
// full NaN/Inf scan and the inference probe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/env.hpp"
#include "runtime/model/model_files.hpp"
#include "runtime/probe/probe.hpp"
#include "runtime/report.hpp"
#include "runtime/root.hpp"

namespace mb::runtime {

struct VerifierOptions {
  bool infer = false;
  std::optional<uint64_t> max_memory;  // --max-memory
  std::string sys_root = "/";          // where /proc and /sys are read (tests fake them)
  unsigned threads = 0;                // hashing threads; 0 = all cores
};

using ProbeFn = std::function<Result<infer::ProbeResult>(const infer::ModelFiles& files,
                                                         const std::string& expect_json)>;

RunReport run_verifier(
    const VerifyRoot& root, const VerifierOptions& options, const Clock& clock,
    const ProbeFn& probe = [](const infer::ModelFiles& f, const std::string& e) {
      return infer::run_probe(f, e);
    });

}  // namespace mb::runtime
