#include "util/task_shares.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "util/thread_pool.h"

namespace kiln {
namespace {

TEST(TaskShares, EachThreadWalksItsOwnShareForward) {
  TaskShares shares;
  ASSERT_TRUE(shares.init(10, 3));  // shares [0, 3), [3, 6), [6, 10)
  EXPECT_EQ(shares.take(1), 3);
  EXPECT_EQ(shares.take(0), 0);
  EXPECT_EQ(shares.take(1), 4);
  EXPECT_EQ(shares.take(2), 6);
  EXPECT_EQ(shares.take(1), 5);
  // Thread 1's share is empty: it takes the back of the fullest, thread 2's [7, 10).
  EXPECT_EQ(shares.take(1), 9);
  EXPECT_EQ(shares.take(2), 7);
  // Thread 0 [1, 3) and thread 2 [8, 9): thread 2 takes its last, then steals from thread 0.
  EXPECT_EQ(shares.take(2), 8);
  EXPECT_EQ(shares.take(2), 2);
  EXPECT_EQ(shares.take(0), 1);
}

// A thread that never comes (a worker that missed the region): the others take its share.
TEST(TaskShares, ThreadsThatNeverComeAreCovered) {
  for (int64_t n : {1, 2, 5, 64}) {
    TaskShares shares;
    ASSERT_TRUE(shares.init(n, 4));
    std::vector<int> hits(n);
    for (int64_t i = 0; i < n; ++i) ++hits[shares.take(i % 2)];
    for (int64_t t = 0; t < n; ++t) EXPECT_EQ(hits[t], 1) << "task " << t << " of " << n;
  }
}

TEST(TaskShares, TooManyThreadsIsRefused) {
  TaskShares shares;
  EXPECT_FALSE(shares.init(100, TaskShares::kMaxThreads + 1));
  EXPECT_TRUE(shares.init(100, TaskShares::kMaxThreads));
}

// Inside real regions: every task exactly once, under the races of stealing at the end.
TEST(TaskShares, EveryTaskExactlyOnceInAPool) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1000}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        TaskShares shares;
        ASSERT_TRUE(shares.init(n, threads));
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](int64_t, int thread) { hits[shares.take(thread)].fetch_add(1); });
        for (int64_t t = 0; t < n; ++t) ASSERT_EQ(hits[t].load(), 1) << threads << " " << n;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
