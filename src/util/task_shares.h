// A region's tasks split into one contiguous share per thread, each walked forward by its
// thread; a thread whose share is empty takes the last task of the fullest other share.
//
// Why: ThreadPool hands out tasks in order to whichever thread asks first, so on two threads
// a weight-streaming matmul's row chunks alternate between the cores, and each core's
// memory stream jumps ahead at every task. The hardware prefetchers start over at every
// jump. Walking contiguous shares made SmolLM2's single-sequence decode 5-18% faster on a
// quiet host and 38-40% with a neighbour competing for memory (docs/benchmarks.md).
//
// Use: init(P, T) before the region; inside it, each of exactly P calls of the region's task
// function calls take(thread_index) once and runs the task it returns. Every task is
// returned exactly once, whichever threads join the region and however late.
#pragma once

#include <atomic>
#include <cstdint>

namespace kiln {

class TaskShares {
 public:
  static constexpr int kMaxThreads = 64;

  // Returns false (and the caller numbers tasks itself) past kMaxThreads threads or 2^32
  // tasks.
  bool init(int64_t num_tasks, int num_threads) {
    if (num_threads > kMaxThreads || num_tasks >= (int64_t{1} << 32)) return false;
    num_threads_ = num_threads;
    for (int i = 0; i < num_threads; ++i) {
      const uint64_t front = (uint64_t)(num_tasks * i / num_threads);
      const uint64_t back = (uint64_t)(num_tasks * (i + 1) / num_threads);
      shares_[i].word.store(front | back << 32, std::memory_order_relaxed);
    }
    return true;
  }

  int64_t take(int thread) {
    for (;;) {
      if (const int64_t t = take_front(shares_[thread].word); t >= 0) return t;
      // Steal from the fullest share, from its back (away from where its owner works).
      int fullest = -1;
      uint32_t most = 0;
      for (int i = 0; i < num_threads_; ++i) {
        const uint32_t left = size(shares_[i].word.load(std::memory_order_relaxed));
        if (left > most) most = left, fullest = i;
      }
      // NOTE: never all empty for a caller: shares only shrink, and each of the P calls takes
      // one task, so while a call is in progress some share still holds one.
      if (fullest < 0) continue;
      if (const int64_t t = take_back(shares_[fullest].word); t >= 0) return t;
    }
  }

 private:
  // A share is [front, back) packed as front | back << 32.
  static uint32_t size(uint64_t w) { return (uint32_t)(w >> 32) - (uint32_t)w; }

  static int64_t take_front(std::atomic<uint64_t>& share) {
    uint64_t w = share.load(std::memory_order_relaxed);
    while ((uint32_t)w < (uint32_t)(w >> 32)) {
      if (share.compare_exchange_weak(w, w + 1, std::memory_order_relaxed)) return (uint32_t)w;
    }
    return -1;
  }
  static int64_t take_back(std::atomic<uint64_t>& share) {
    uint64_t w = share.load(std::memory_order_relaxed);
    while ((uint32_t)w < (uint32_t)(w >> 32)) {
      const uint64_t back = (w >> 32) - 1;
      if (share.compare_exchange_weak(w, (w & 0xFFFFFFFFu) | back << 32,
                                      std::memory_order_relaxed))
        return (int64_t)back;
    }
    return -1;
  }

  // A cache line each: every take writes its thread's share.
  struct alignas(64) Share {
    std::atomic<uint64_t> word;
  };
  Share shares_[kMaxThreads];
  int num_threads_ = 0;
};

}  // namespace kiln
