// When requests are sent: inter-arrival gaps drawn from a gamma distribution with shape
// `burstiness` and mean 1/rate (burstiness 1 = a Poisson process; lower = burstier, higher
// = more regular), as vLLM's benchmark does; an infinite rate sends everything at once.
// Arrivals are independent of completions; the in-flight cap then holds requests back,
// so a request's start is when it is actually sent.
#pragma once

#include <cstdint>
#include <limits>
#include <random>

namespace kiln::bench {

class ArrivalSchedule {
 public:
  // rate: requests per second (> 0; infinity = all at once); burstiness > 0.
  ArrivalSchedule(double rate, double burstiness, uint64_t seed);
  // Seconds from the previous arrival to the next (0 for the first gap when rate is
  // infinite; every gap is drawn otherwise, the first included).
  double next_gap_s();
  bool all_at_once() const { return rate_ == std::numeric_limits<double>::infinity(); }

 private:
  double rate_;
  std::mt19937_64 rng_;
  std::gamma_distribution<double> gamma_;
};

// Arrived requests wait here until fewer than `max_in_flight` are in flight.
class ConcurrencyGate {
 public:
  explicit ConcurrencyGate(int max_in_flight) : max_in_flight_(max_in_flight) {}
  void arrive() { ++waiting_; }
  // True, and counts the request as in flight, when one waits and a slot is free.
  bool try_send();
  void finish() { --in_flight_; }
  void drop_waiting() { waiting_ = 0; }
  int in_flight() const { return in_flight_; }
  int waiting() const { return waiting_; }

 private:
  int max_in_flight_;  // <= 0: no cap
  int in_flight_ = 0;
  int waiting_ = 0;
};

}  // namespace kiln::bench
