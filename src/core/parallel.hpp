// The one worker pool (issue 12, "one of each"): fetch's files, push's and pull's blobs,
// verify's hashing, the decoder's row chunks and a download's range workers all run through
// parallel_for. Threads are started per call and joined before it returns. Long-lived
// background threads (AsyncHasher, the watchdog, the curl loop, the progress display, serve's
// pull-through jobs, push's spool uploads) are not jobs of a loop and stay as they are.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "core/error.hpp"

namespace mb {

enum class StopPolicy {
  run_all,              // every job runs, whatever fails (push, pull, hashing, fetch)
  stop_at_first_error,  // after a failure no new job starts (lock time: no lock anyway)
};

struct ParallelOptions {
  unsigned threads = 0;  // 0 = std::thread::hardware_concurrency()
  StopPolicy stop = StopPolicy::run_all;
};

// Runs job(i) for every i in [0, count) on up to `threads` threads (never more than count),
// the calling thread being one of them: it runs job 0, so a caller whose jobs are equal
// chunks keeps the first chunk. Jobs start in index order and may run at the same time, so
// they synchronise what they share. Returns one Status per index. A job whose error has
// category `cancelled` (a shut-down transport, a signal) stops the run whatever the policy.
// Once the run stops, no job starts: every index not started holds a `cancelled` error
// ("not started: an earlier job failed"). Started jobs are a prefix of the indices, so the
// first failure in index order is always a job's own error.
std::vector<Status> parallel_for(size_t count, const ParallelOptions& options,
                                 const std::function<Status(size_t)>& job);

// The first failure in index order (ok when there is none).
Status first_failure(const std::vector<Status>& results);

}  // namespace mb
