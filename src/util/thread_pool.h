// kiln's own compute thread pool: a fixed set of workers that run one parallel_for at a
// time. Workers spin briefly before sleeping, because decode issues hundreds of short
// parallel regions per token and a futex wake-up per region would dominate.
// A region ends when its tasks are done, not when every worker has checked in: a worker
// the OS has not scheduled yet (another process is busy on the same cores) simply misses
// the region, and the threads that are running do its share. Waiting for such a worker
// cost a scheduler time slice per region, tens of milliseconds per token.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
 public:
  // num_threads counts the calling thread, which always takes part; <= 0 means all cores.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls fn(task, thread_index) for every task in [0, num_tasks) and returns when all
  // are done. Tasks are handed out dynamically; thread_index is in [0, num_threads()).
  // Not re-entrant: fn must not call parallel_for on the same pool. Called from one
  // thread at a time.
  void parallel_for(int64_t num_tasks, const std::function<void(int64_t, int)>& fn);

  static int default_num_threads();

 private:
  void worker_loop(int thread_index);
  void run_tasks(int thread_index);
  bool try_enter();  // joins the open region, if there is one

  int num_threads_;
  std::vector<std::thread> workers_;
  // Written by parallel_for only while no worker is inside a region (see entry_).
  const std::function<void(int64_t, int)>* job_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  // kOpen while a region takes workers, plus the number of workers inside it. A worker
  // enters only while kOpen is set; parallel_for clears it once every task is taken and
  // then waits only for the workers already inside to finish theirs and leave.
  static constexpr uint32_t kOpen = 1u << 31;
  std::atomic<uint32_t> entry_{0};
  std::atomic<uint64_t> generation_{0};  // bumped per region, to wake the workers
  std::atomic<bool> stop_{false};
};

}  // namespace kiln
