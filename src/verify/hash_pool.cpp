// Parallel hashing on core::parallel_for: the workers pull files largest first, so one big
// file starts immediately and the small ones fill the other workers around it. Each file is
// one sequential stream (hash_file), which is what the page cache and readahead like.
#include <fcntl.h>

#include <algorithm>
#include <mutex>
#include <numeric>
#include <optional>

#include "core/parallel.hpp"
#include "verify/integrity.hpp"

namespace mb::verify {

namespace {

// A cache's file is opened through its door (O_NOFOLLOW, checked with fstat), so a blob
// swapped for a link after the layout check is refused, not read.
Result<FileDigests> hash_job(const HashJob& job) {
  WithGitSha1 git = job.want_git_sha1 ? WithGitSha1::yes : WithGitSha1::no;
  if (job.door == nullptr) return hash_file(job.path, git);
  MB_ASSIGN(UniqueFd fd, job.door->open_file(job.path, O_RDONLY));
  return hash_fd(fd.get(), job.path, git);
}

}  // namespace

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

  uint64_t done_bytes = 0;
  // The callback need not be thread-safe, and the count must reach it in order: added and
  // reported under one lock (adding outside it let a later, larger count overtake a smaller
  // one, so progress went backwards).
  std::mutex progress_mutex;
  // run_all: every file gets its own result; the jobs never fail, the hash results do.
  (void)parallel_for(order.size(), {threads, StopPolicy::run_all}, [&](size_t k) -> Status {
    const HashJob& job = jobs[order[k]];
    slots[order[k]].emplace(hash_job(job));
    std::lock_guard<std::mutex> g(progress_mutex);
    done_bytes += job.expected_size;
    if (progress) progress(done_bytes, total);
    return {};
  });
  std::vector<Result<FileDigests>> out;
  out.reserve(jobs.size());
  for (auto& s : slots) out.push_back(std::move(*s));
  return out;
}

}  // namespace mb::verify
