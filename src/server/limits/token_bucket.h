// A per-minute budget as a token bucket refilled continuously: it holds at most one
// minute's allowance and gains limit/60 per second, so a client may burst its whole minute
// at once and then proceeds at the steady rate. Unlike a fixed minute window there is no
// boundary at which twice the limit fits in a few seconds, and unlike a sliding log it costs
// two numbers per key.
//
// The level may go below zero: completion tokens are settled as they are generated, after
// the request was admitted, so a long stream runs the key into debt that later requests
// wait out. Times are seconds on a monotonic clock, passed in (the tests inject them).
#pragma once

namespace kiln::server::limits {

class TokenBucket {
 public:
  TokenBucket() = default;
  // Starts full.
  TokenBucket(double per_minute, double now)
      : capacity_(per_minute), level_(per_minute), updated_(now) {}

  double capacity() const { return capacity_; }
  // The level at `now` (refilled up to the capacity since the last change).
  double level(double now);
  void take(double amount, double now);
  // Seconds until the level reaches `amount` (0 if it has); infinite when it never will.
  double seconds_until(double amount, double now);
  double seconds_until_full(double now) { return seconds_until(capacity_, now); }
  // A reloaded limit: the level keeps what was used (capacity minus level), clamped to the
  // new capacity, so a reload neither hands out a fresh minute nor takes one away.
  void set_capacity(double per_minute, double now);

 private:
  double rate() const { return capacity_ / 60.0; }
  double capacity_ = 0;
  double level_ = 0;
  double updated_ = 0;
};

}  // namespace kiln::server::limits
