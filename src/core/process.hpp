// Running a helper program (a docker credential helper) without a shell, with a time limit
// and a cap on what it may print. Injected (ProcessRunner) so callers are unit-testable.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace mb {

struct ProcessOutput {
  int exit_code = 0;  // of a normal exit
  std::string out;    // stdout
  std::string err;    // stderr (at most the same cap)
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs argv[0] (an absolute path) with `input` on stdin. Fails (io) when it cannot start,
  // is killed by a signal, outlives `timeout` (then it is killed), or prints more than
  // `max_output` bytes on either stream.
  virtual Result<ProcessOutput> run(const std::vector<std::string>& argv, std::string_view input,
                                    std::chrono::milliseconds timeout, size_t max_output) = 0;
};

// fork/exec with pipes; the child inherits this process's environment.
class PosixProcessRunner final : public ProcessRunner {
 public:
  Result<ProcessOutput> run(const std::vector<std::string>& argv, std::string_view input,
                            std::chrono::milliseconds timeout, size_t max_output) override;
};

// The first executable `name` in the ':'-separated `path_list` (PATH); "" when none.
std::string find_in_path(const std::string& name, const std::string& path_list);

}  // namespace mb
