#include "bench/arrivals.h"

namespace kiln::bench {

ArrivalSchedule::ArrivalSchedule(double rate, double burstiness, uint64_t seed)
    : rate_(rate),
      rng_(seed),
      gamma_(burstiness, all_at_once() ? 1.0 : 1.0 / (rate * burstiness)) {}

double ArrivalSchedule::next_gap_s() { return all_at_once() ? 0.0 : gamma_(rng_); }

bool ConcurrencyGate::try_send() {
  if (waiting_ == 0 || (max_in_flight_ > 0 && in_flight_ >= max_in_flight_)) return false;
  --waiting_;
  ++in_flight_;
  return true;
}

}  // namespace kiln::bench
