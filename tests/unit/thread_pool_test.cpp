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

}  // namespace
}  // namespace kiln
