// Parallel hashing: a fixed pool of threads pulls files from a shared index, largest first, so
// one big file starts immediately and the small ones fill the other workers around it. Each
// file is one sequential stream (hash_file), which is what the page cache and readahead like.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "verify/integrity.hpp"

namespace mb::verify {

std::vector<Result<FileDigests>> hash_files_parallel(
    const std::vector<HashJob>& jobs, unsigned threads,
    const std::function<void(uint64_t, uint64_t)>& progress) {
  std::vector<std::optional<Result<FileDigests>>> slots(jobs.size());
  std::vector<size_t> order(jobs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return jobs[a].expected_size > jobs[b].expected_size;
  });
  uint64_t total = 0;
  for (const auto& j : jobs) total += j.expected_size;

  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(1, jobs.size())));

  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done_bytes{0};
  std::mutex progress_mutex;  // the callback need not be thread-safe
  auto worker = [&] {
    for (;;) {
      size_t k = next.fetch_add(1);
      if (k >= order.size()) return;
      const HashJob& job = jobs[order[k]];
      slots[order[k]].emplace(
          hash_file(job.path, job.want_git_sha1 ? WithGitSha1::yes : WithGitSha1::no));
      uint64_t now = done_bytes.fetch_add(job.expected_size) + job.expected_size;
      if (progress) {
        std::lock_guard<std::mutex> g(progress_mutex);
        progress(now, total);
      }
    }
  };
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  std::vector<Result<FileDigests>> out;
  out.reserve(jobs.size());
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

}  // namespace mb::verify
