#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace kiln {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 3, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](int64_t task, int thread) {
        ASSERT_GE(thread, 0);
        ASSERT_LT(thread, threads);
        hits[task].fetch_add(1);
      });
      for (auto& h : hits) EXPECT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, ManyShortRegionsInARow) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int region = 0; region < 2000; ++region)
    pool.parallel_for(5, [&](int64_t task, int) { sum.fetch_add(task); });
  EXPECT_EQ(sum.load(), 2000 * 10);
}

// Regions of every size back to back, with uneven tasks, so workers often wake for a region
// that is already over or join the next one late: every task still runs once, in its own
// region, and no two tasks running at once share a thread index (per-thread scratch buffers
// rely on that).
TEST(ThreadPool, LateWorkersNeverRunStaleOrSharedWork) {
  ThreadPool pool(4);
  std::vector<std::atomic<bool>> in_use(pool.num_threads());
  std::atomic<int> clashes{0};
  for (int region = 0; region < 3000; ++region) {
    const int64_t n = region % 7;
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> wrong_region{0};
    const int expected = region;
    int current = region;
    pool.parallel_for(n, [&](int64_t task, int thread) {
      if (in_use[thread].exchange(true)) clashes.fetch_add(1);
      if (current != expected) wrong_region.fetch_add(1);
      volatile int spin = 0;
      for (int i = 0; i < (int)(task * 200 + region % 5 * 300); ++i) spin = spin + 1;
      hits[task].fetch_add(1);
      in_use[thread].store(false);
    });
    current = -1;  // a task of this region still running after parallel_for returned sees it
    for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "region " << region;
    ASSERT_EQ(wrong_region.load(), 0);
  }
  EXPECT_EQ(clashes.load(), 0);
}

}  // namespace
}  // namespace kiln
