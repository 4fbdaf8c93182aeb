#include "util/thread_pool.h"

#include <immintrin.h>

namespace kiln {

namespace {
constexpr int kSpinIterations = 20000;  // ~ tens of microseconds before sleeping
}

int ThreadPool::default_num_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : (int)n;
}

ThreadPool::ThreadPool(int num_threads)
    : num_threads_(num_threads <= 0 ? default_num_threads() : num_threads) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(int thread_index) {
  const auto& fn = *job_;
  for (;;) {
    const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= num_tasks_) break;
    fn(task, thread_index);
  }
}

bool ThreadPool::try_enter() {
  uint32_t e = entry_.load(std::memory_order_relaxed);
  while (e & kOpen)
    if (entry_.compare_exchange_weak(e, e + 1, std::memory_order_acquire, std::memory_order_relaxed))
      return true;
  return false;
}

void ThreadPool::worker_loop(int thread_index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      _mm_pause();
      gen = generation_.load(std::memory_order_acquire);
    }
    while (gen == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      gen = generation_.load(std::memory_order_acquire);
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    // The region this worker was woken for may be over; it may even be a later one that
    // is open now, which is as good: whichever is open, its tasks are there to take.
    if (!try_enter()) continue;
    run_tasks(thread_index);
    entry_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::parallel_for(int64_t num_tasks, const std::function<void(int64_t, int)>& fn) {
  if (num_tasks <= 0) return;
  if (workers_.empty() || num_tasks == 1) {
    for (int64_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  job_ = &fn;
  num_tasks_ = num_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  entry_.store(kOpen, std::memory_order_release);  // publishes the three fields above
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  run_tasks(0);
  // Every task is taken now, so close the region: no worker needs to come in. Only a
  // worker inside can hold a task, so once none is inside, every task is done. Spin while
  // they finish; yield if that takes long, which happens when the machine has more
  // runnable threads than cores.
  entry_.fetch_and(~kOpen, std::memory_order_acq_rel);
  for (int spin = 0; entry_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) _mm_pause();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace kiln
