#include "server/limits/key_state.h"

#include <algorithm>
#include <cmath>

namespace kiln::server::limits {
namespace {

int seconds_to_retry(double seconds) {
  return std::max(1, (int)std::ceil(std::min(seconds, 86400.0)));
}

}  // namespace

const char* rejection_name(Rejection r) {
  switch (r) {
    case Rejection::kRequests:
      return "requests_per_minute";
    case Rejection::kTokens:
      return "tokens_per_minute";
    case Rejection::kConcurrency:
      return "max_concurrent_requests";
    case Rejection::kModel:
      return "model";
  }
  return "unknown";
}

KeyState::KeyState(std::string name, KeyLimits limits, double now)
    : name_(std::move(name)), limits_(std::move(limits)) {
  if (limits_.requests_per_minute) requests_ = TokenBucket((double)*limits_.requests_per_minute, now);
  if (limits_.tokens_per_minute) tokens_ = TokenBucket((double)*limits_.tokens_per_minute, now);
}

void KeyState::set_limits(KeyLimits limits, double now) {
  std::lock_guard lock(mu_);
  auto update = [now](TokenBucket& bucket, const std::optional<int64_t>& old_limit,
                      const std::optional<int64_t>& new_limit) {
    if (!new_limit) return;
    if (!old_limit)
      bucket = TokenBucket((double)*new_limit, now);
    else
      bucket.set_capacity((double)*new_limit, now);
  };
  update(requests_, limits_.requests_per_minute, limits.requests_per_minute);
  update(tokens_, limits_.tokens_per_minute, limits.tokens_per_minute);
  limits_ = std::move(limits);
}

bool KeyState::limited() const {
  std::lock_guard lock(mu_);
  return limits_.requests_per_minute || limits_.tokens_per_minute ||
         limits_.max_concurrent_requests;
}

bool KeyState::has_model_list() const {
  std::lock_guard lock(mu_);
  return !limits_.models.empty();
}

bool KeyState::allows_model(std::string_view model) const {
  std::lock_guard lock(mu_);
  return limits_.models.empty() ||
         std::find(limits_.models.begin(), limits_.models.end(), model) != limits_.models.end();
}

void KeyState::count_model_rejection() {
  std::lock_guard lock(mu_);
  ++counters_.rejections[(int)Rejection::kModel];
}

Decision KeyState::try_admit(int64_t prompt_tokens, double now) {
  std::lock_guard lock(mu_);
  Decision d;
  auto refuse = [&](Rejection reason, std::string message, int retry_after) {
    ++counters_.rejections[(int)reason];
    d.reason = reason;
    d.message = "Rate limit reached for key '" + name_ + "': " + std::move(message);
    d.retry_after_seconds = retry_after;
    return d;
  };
  if (limits_.max_concurrent_requests && in_flight_ >= *limits_.max_concurrent_requests)
    return refuse(Rejection::kConcurrency,
                  "max_concurrent_requests " + std::to_string(*limits_.max_concurrent_requests) +
                      " requests already running; retry when one finishes",
                  1);
  if (limits_.requests_per_minute && requests_.level(now) < 1)
    return refuse(Rejection::kRequests,
                  "requests_per_minute " + std::to_string(*limits_.requests_per_minute) +
                      " used up",
                  seconds_to_retry(requests_.seconds_until(1, now)));
  if (limits_.tokens_per_minute) {
    const int64_t limit = *limits_.tokens_per_minute;
    if (prompt_tokens > limit)
      return refuse(Rejection::kTokens,
                    "the prompt has " + std::to_string(prompt_tokens) +
                        " tokens, more than the whole tokens_per_minute budget of " +
                        std::to_string(limit) + "; it can never be admitted, do not retry",
                    0);
    if (tokens_.level(now) < (double)prompt_tokens)
      return refuse(Rejection::kTokens,
                    "tokens_per_minute " + std::to_string(limit) + " used up (the prompt needs " +
                        std::to_string(prompt_tokens) + ", " +
                        std::to_string(std::max<int64_t>(0, (int64_t)tokens_.level(now))) +
                        " remain)",
                    seconds_to_retry(tokens_.seconds_until((double)prompt_tokens, now)));
  }
  if (limits_.requests_per_minute) requests_.take(1, now);
  if (limits_.tokens_per_minute) tokens_.take((double)prompt_tokens, now);
  ++in_flight_;
  ++counters_.requests;
  counters_.prompt_tokens += prompt_tokens;
  d.admitted = true;
  return d;
}

void KeyState::add_completion_tokens(int64_t n, double now) {
  std::lock_guard lock(mu_);
  counters_.completion_tokens += n;
  if (limits_.tokens_per_minute) tokens_.take((double)n, now);
}

void KeyState::release() {
  std::lock_guard lock(mu_);
  --in_flight_;
}

void KeyState::refund(int64_t prompt_tokens, double now) {
  std::lock_guard lock(mu_);
  if (limits_.requests_per_minute) requests_.take(-1, now);
  if (limits_.tokens_per_minute) tokens_.take(-(double)prompt_tokens, now);
  --counters_.requests;
  counters_.prompt_tokens -= prompt_tokens;
}

Snapshot KeyState::snapshot(double now) {
  std::lock_guard lock(mu_);
  Snapshot s;
  auto budget = [now](TokenBucket& bucket, int64_t limit) {
    Snapshot::Budget b;
    b.limit = limit;
    b.remaining = std::max<int64_t>(0, (int64_t)std::floor(bucket.level(now)));
    b.seconds_to_full = bucket.seconds_until_full(now);
    return b;
  };
  if (limits_.requests_per_minute) s.requests = budget(requests_, *limits_.requests_per_minute);
  if (limits_.tokens_per_minute) s.tokens = budget(tokens_, *limits_.tokens_per_minute);
  return s;
}

KeyCounters KeyState::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

int64_t KeyState::in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

}  // namespace kiln::server::limits
