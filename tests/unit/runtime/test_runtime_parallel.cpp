// parallel_rows: the decoder's row chunks. The chunking is part of the performance contract
// (contiguous chunks of ceil(rows / n), the calling thread doing the first one, no thread for
// small work), so it is pinned here.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "runtime/kernels/parallel.hpp"

namespace mb::infer {
namespace {

struct Calls {
  std::mutex mutex;
  std::set<std::pair<int64_t, int64_t>> chunks;
  std::thread::id first_chunk_thread;
  int count = 0;

  void run(int64_t rows, int64_t cost) {
    parallel_rows(rows, cost, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> g(mutex);
      chunks.insert({b, e});
      if (b == 0) first_chunk_thread = std::this_thread::get_id();
      count++;
    });
  }
};

struct InferThreads : ::testing::Test {
  void TearDown() override { set_infer_threads(1); }
};

TEST_F(InferThreads, ContiguousChunksAndTheCallerDoesTheFirst) {
  set_infer_threads(4);
  Calls calls;
  calls.run(10, 1 << 20);
  using C = std::set<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(calls.chunks, (C{{0, 3}, {3, 6}, {6, 9}, {9, 10}}));
  EXPECT_EQ(calls.count, 4);
  EXPECT_EQ(calls.first_chunk_thread, std::this_thread::get_id());
}

TEST_F(InferThreads, AnEmptyLastChunkIsNotCalled) {
  set_infer_threads(4);
  Calls calls;
  calls.run(5, 1 << 20);  // chunk 2: [0,2) [2,4) [4,5), and no [6,5)
  using C = std::set<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(calls.chunks, (C{{0, 2}, {2, 4}, {4, 5}}));
  EXPECT_EQ(calls.count, 3);
}

TEST_F(InferThreads, SmallWorkOrOneThreadRunsInline) {
  set_infer_threads(4);
  Calls small;
  small.run(100, 1);  // 100 multiply-adds: no thread pays for that
  EXPECT_EQ(small.chunks, (std::set<std::pair<int64_t, int64_t>>{{0, 100}}));
  EXPECT_EQ(small.first_chunk_thread, std::this_thread::get_id());
  set_infer_threads(1);
  Calls one;
  one.run(10, 1 << 20);
  EXPECT_EQ(one.chunks, (std::set<std::pair<int64_t, int64_t>>{{0, 10}}));
}

}  // namespace
}  // namespace mb::infer
