// oci::run_parallel, the blob transfers of push and pull: every blob is tried whatever fails
// (a later push or pull then has less to do), and the error returned is the first failure
// in task order, so the message does not depend on which thread finished first.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>

#include "oci/transfer.hpp"

namespace mb::oci {
namespace {

std::vector<std::function<Status()>> tasks(std::atomic<int>& runs, size_t n,
                                           std::vector<size_t> failing,
                                           ErrorCategory c = ErrorCategory::transient) {
  std::vector<std::function<Status()>> out;
  for (size_t i = 0; i < n; ++i) {
    bool fails = std::find(failing.begin(), failing.end(), i) != failing.end();
    out.push_back([&runs, i, fails, c]() -> Status {
      runs++;
      if (fails) return fail(c, "blob " + std::to_string(i) + " failed");
      return {};
    });
  }
  return out;
}

TEST(OciRunParallel, RunsEveryTaskAndReturnsTheFirstFailureInTaskOrder) {
  std::atomic<int> runs{0};
  Status st = run_parallel(tasks(runs, 12, {9, 3, 7}), 4);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "blob 3 failed");
  EXPECT_EQ(runs, 12);
}

TEST(OciRunParallel, NoTasksAndNonPositiveParallelism) {
  std::atomic<int> runs{0};
  EXPECT_TRUE(run_parallel({}, 4).ok());
  EXPECT_TRUE(run_parallel(tasks(runs, 3, {}), 0).ok());
  EXPECT_TRUE(run_parallel(tasks(runs, 3, {}), -2).ok());
  EXPECT_EQ(runs, 6);
}

// An interrupted transport stops the transfers: one worker, so the order is known.
TEST(OciRunParallel, CancelledStopsTheRest) {
  std::atomic<int> runs{0};
  Status st = run_parallel(tasks(runs, 5, {1}, ErrorCategory::cancelled), 1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().category, ErrorCategory::cancelled);
  EXPECT_EQ(st.error().message, "blob 1 failed");
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace mb::oci
