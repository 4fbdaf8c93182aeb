#include "server/limits/token_bucket.h"

#include <algorithm>
#include <limits>

namespace kiln::server::limits {

double TokenBucket::level(double now) {
  if (now > updated_) {
    level_ = std::min(capacity_, level_ + (now - updated_) * rate());
    updated_ = now;
  }
  return level_;
}

void TokenBucket::take(double amount, double now) {
  level(now);
  level_ = std::min(capacity_, level_ - amount);  // a refund never overfills
}

double TokenBucket::seconds_until(double amount, double now) {
  const double have = level(now);
  if (have >= amount) return 0;
  if (amount > capacity_ || rate() <= 0) return std::numeric_limits<double>::infinity();
  return (amount - have) / rate();
}

void TokenBucket::set_capacity(double per_minute, double now) {
  const double used = capacity_ - level(now);
  capacity_ = per_minute;
  level_ = std::min(capacity_, capacity_ - used);
}

}  // namespace kiln::server::limits
