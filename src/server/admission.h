// Backpressure: the server holds at most --max-num-seqs sequences that can run plus a
// waiting queue of --max-queue more; a request that does not fit is refused at once with
// 429 and Retry-After instead of queueing without bound. A sequence is one sample (n of
// them per prompt). Thread-safe.
//
// NOTE: counting what the server has in flight, rather than reading the engine's waiting
// gauge, makes the bound exact at the moment of admission: the gauge is refreshed once per
// engine step and misses requests submitted since, so a burst would overshoot it.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

namespace kiln::server {

class Admission {
 public:
  Admission(int64_t max_running, int64_t max_queue) : capacity_(max_running + max_queue) {}

  // Holds its sequences' places until destroyed (the request finished or was cancelled).
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : owner_(other.owner_), num_(other.num_) {
      other.owner_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }
    void release();

   private:
    friend class Admission;
    Ticket(Admission* owner, int64_t num) : owner_(owner), num_(num) {}
    Admission* owner_ = nullptr;
    int64_t num_ = 0;
  };

  // nullopt when `num_seqs` more would exceed the bound.
  std::optional<Ticket> try_admit(int64_t num_seqs);
  int64_t in_flight() const;
  int64_t capacity() const { return capacity_; }

 private:
  const int64_t capacity_;
  mutable std::mutex mu_;
  int64_t in_flight_ = 0;
};

}  // namespace kiln::server
