#include "core/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

namespace mb {

namespace {

bool stops_run(StopPolicy policy, const Error& e) {
  return policy == StopPolicy::stop_at_first_error || e.category == ErrorCategory::cancelled;
}

}  // namespace

std::vector<Status> parallel_for(size_t count, const ParallelOptions& options,
                                 const std::function<Status(size_t)>& job) {
  std::vector<Status> results(count);
  unsigned wanted = options.threads;
  if (wanted == 0) wanted = std::max(1u, std::thread::hardware_concurrency());
  const size_t threads = std::min<size_t>(wanted, count);
  // Claiming an index and stopping go through one counter: stopping moves it to `count`, so
  // every index claimed is run, and those never claimed are exactly [first_unclaimed, count).
  std::atomic<size_t> next{1};  // index 0 is the caller's
  std::atomic<size_t> first_unclaimed{count};
  auto work_from = [&](size_t i) {
    for (; i < count; i = next++) {
      results[i] = job(i);  // each index is written by the one thread that claimed it
      if (results[i].ok() || !stops_run(options.stop, results[i].error())) continue;
      size_t unclaimed = next.exchange(count);  // only the first stop sees a value below count
      if (unclaimed < count) first_unclaimed = unclaimed;
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads > 0 ? threads - 1 : 0);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back([&] { work_from(next++); });
  if (count > 0) work_from(0);
  for (auto& t : pool) t.join();
  for (size_t i = first_unclaimed; i < count; ++i) {
    results[i] = fail(ErrorCategory::cancelled, "not started: an earlier job failed");
  }
  return results;
}

Status first_failure(const std::vector<Status>& results) {
  for (const Status& s : results) {
    if (!s.ok()) return s;
  }
  return {};
}

}  // namespace mb
