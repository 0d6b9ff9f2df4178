// core::parallel_for, the one worker pool (issue 12, "one of each"), and its stop policies.
// The stop tests are made deterministic without sleeps: the job that must outlast a failure
// waits until the failing worker thread has left the pool (a thread_local's destructor runs
// when that thread exits, which is after it recorded the stop).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <type_traits>

#include "core/parallel.hpp"

namespace mb {
namespace {

// Something one thread waits for and another sets, once.
class Event {
 public:
  void set() {
    std::lock_guard<std::mutex> g(m_mutex);
    m_set = true;
    m_cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> g(m_mutex);
    m_cv.wait(g, [&] { return m_set; });
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_set = false;
};

// Sets its event when the thread that armed it exits.
struct SetOnThreadExit {
  Event* event = nullptr;
  ~SetOnThreadExit() {
    if (event) event->set();
  }
};
thread_local SetOnThreadExit t_on_exit;

Status job_error(size_t i, ErrorCategory c = ErrorCategory::permanent) {
  return fail(c, "job " + std::to_string(i) + " failed");
}

void expect_not_started(const Status& s) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().category, ErrorCategory::cancelled);
  EXPECT_EQ(s.error().message, "not started: an earlier job failed");
}

TEST(ParallelFor, RunAllRunsEveryJobAndKeepsEachStatusInIndexOrder) {
  std::vector<std::atomic<int>> runs(40);
  auto results = parallel_for(40, {4, StopPolicy::run_all}, [&](size_t i) -> Status {
    runs[i]++;
    if (i % 3 == 0) return job_error(i);
    return {};
  });
  ASSERT_EQ(results.size(), 40u);
  for (size_t i = 0; i < 40; ++i) {
    EXPECT_EQ(runs[i], 1) << i;
    if (i % 3 == 0) {
      ASSERT_FALSE(results[i].ok()) << i;
      EXPECT_EQ(results[i].error().message, "job " + std::to_string(i) + " failed");
      EXPECT_EQ(results[i].error().category, ErrorCategory::permanent);
    } else {
      EXPECT_TRUE(results[i].ok()) << i;
    }
  }
  ASSERT_FALSE(first_failure(results).ok());
  EXPECT_EQ(first_failure(results).error().message, "job 0 failed");
}

// Job 0 (the calling thread) waits until the other worker, which failed job 1, has left the
// pool; had the pool not stopped, that worker would have taken job 2 and the caller job 3.
TEST(ParallelFor, StopAtFirstErrorStartsNoNewJobAndMarksTheRest) {
  Event worker_gone;
  std::atomic<int> started{0};
  auto results = parallel_for(10, {2, StopPolicy::stop_at_first_error}, [&](size_t i) -> Status {
    started++;
    if (i == 0) {
      worker_gone.wait();
      return {};
    }
    t_on_exit.event = &worker_gone;
    return job_error(i);
  });
  ASSERT_EQ(results.size(), 10u);
  EXPECT_EQ(started, 2);
  EXPECT_TRUE(results[0].ok());
  ASSERT_FALSE(results[1].ok());
  EXPECT_EQ(results[1].error().message, "job 1 failed");
  for (size_t i = 2; i < 10; ++i) expect_not_started(results[i]);
  EXPECT_EQ(first_failure(results).error().message, "job 1 failed");
}

TEST(ParallelFor, CancelledErrorStopsRunAll) {
  Event worker_gone;
  std::atomic<int> started{0};
  auto results = parallel_for(6, {2, StopPolicy::run_all}, [&](size_t i) -> Status {
    started++;
    if (i == 0) {
      worker_gone.wait();
      return job_error(0);  // an ordinary failure after the cancel changes nothing
    }
    t_on_exit.event = &worker_gone;
    return job_error(i, ErrorCategory::cancelled);
  });
  EXPECT_EQ(started, 2);
  EXPECT_EQ(results[0].error().message, "job 0 failed");
  EXPECT_EQ(results[1].error().message, "job 1 failed");
  EXPECT_EQ(results[1].error().category, ErrorCategory::cancelled);
  for (size_t i = 2; i < 6; ++i) expect_not_started(results[i]);
}

TEST(ParallelFor, OneThreadRunsOnTheCallerInOrderAndStops) {
  std::vector<size_t> order;
  std::set<std::thread::id> ids;
  auto results = parallel_for(5, {1, StopPolicy::stop_at_first_error}, [&](size_t i) -> Status {
    order.push_back(i);
    ids.insert(std::this_thread::get_id());
    return i == 2 ? job_error(i) : Status{};
  });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(ids, (std::set<std::thread::id>{std::this_thread::get_id()}));
  EXPECT_TRUE(results[0].ok());
  EXPECT_TRUE(results[1].ok());
  EXPECT_EQ(results[2].error().message, "job 2 failed");
  expect_not_started(results[3]);
  expect_not_started(results[4]);
}

TEST(ParallelFor, CountZeroCallsNothing) {
  bool called = false;
  auto results = parallel_for(0, {}, [&](size_t) -> Status {
    called = true;
    return {};
  });
  EXPECT_TRUE(results.empty());
  EXPECT_FALSE(called);
  EXPECT_TRUE(first_failure(results).ok());
}

// The caller runs job 0 (parallel_rows keeps its first chunk); never more threads than jobs.
TEST(ParallelFor, MoreThreadsThanJobsAndCallerRunsJobZero) {
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::thread::id first;
  auto results = parallel_for(3, {16, StopPolicy::run_all}, [&](size_t i) -> Status {
    std::lock_guard<std::mutex> g(mutex);
    ids.insert(std::this_thread::get_id());
    if (i == 0) first = std::this_thread::get_id();
    return {};
  });
  EXPECT_EQ(results.size(), 3u);
  EXPECT_EQ(first, std::this_thread::get_id());
  EXPECT_LE(ids.size(), 3u);
  EXPECT_TRUE(first_failure(results).ok());
}

// Job 0 returns only once job 1 has started, which needs a second thread.
TEST(ParallelFor, RunsJobsAtTheSameTime) {
  Event second_started;
  auto results = parallel_for(2, {2, StopPolicy::run_all}, [&](size_t i) -> Status {
    if (i == 0) second_started.wait();
    if (i == 1) second_started.set();
    return {};
  });
  EXPECT_TRUE(first_failure(results).ok());
}

TEST(ParallelFor, ZeroThreadsMeansHardwareConcurrency) {
  std::atomic<int> runs{0};
  auto results = parallel_for(100, {0, StopPolicy::run_all}, [&](size_t) -> Status {
    runs++;
    return {};
  });
  EXPECT_EQ(runs, 100);
  EXPECT_EQ(results.size(), 100u);
}

// Jobs report failure by value; the pool never relies on exceptions.
static_assert(std::is_same_v<decltype(parallel_for(0, {}, {})), std::vector<Status>>);

}  // namespace
}  // namespace mb
