// One API key's limits and running state: its request and token buckets, the requests it
// has in flight, and the counters /metrics shows under its name. Thread-safe (one mutex
// per key; requests of different keys never contend).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/limits/token_bucket.h"

namespace kiln::server::limits {

// What --api-keys-file says about a key; every limit optional (absent: unlimited).
struct KeyLimits {
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
  std::optional<int64_t> max_concurrent_requests;
  std::vector<std::string> models;  // empty: every model
};

// Why a request was refused, as the `reason` label of the rejection counter.
enum class Rejection { kRequests, kTokens, kConcurrency, kModel };
const char* rejection_name(Rejection r);  // requests_per_minute, tokens_per_minute, ...
inline constexpr Rejection kAllRejections[] = {Rejection::kRequests, Rejection::kTokens,
                                               Rejection::kConcurrency, Rejection::kModel};

struct Decision {
  bool admitted = false;
  Rejection reason = Rejection::kRequests;
  std::string message;
  // > 0: when the same request would fit; 0 with a refusal: never (the prompt alone is
  // larger than the key's whole minute of tokens).
  int retry_after_seconds = 0;
};

// The numbers the rate-limit headers report, at one moment.
struct Snapshot {
  struct Budget {
    int64_t limit = 0;
    int64_t remaining = 0;
    double seconds_to_full = 0;
  };
  std::optional<Budget> requests, tokens;
};

struct KeyCounters {
  int64_t requests = 0;  // admitted generations
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t rejections[4] = {};  // by Rejection
};

class KeyState {
 public:
  KeyState(std::string name, KeyLimits limits, double now);

  const std::string& name() const { return name_; }
  // A reload changed the key's limits; buckets keep what was used, counters carry over.
  void set_limits(KeyLimits limits, double now);
  bool limited() const;
  bool has_model_list() const;
  bool allows_model(std::string_view model) const;
  void count_model_rejection();

  // Admits a generation of `prompt_tokens` (taking one request, the prompt's tokens and a
  // concurrency slot) or says why not. A refusal takes nothing.
  Decision try_admit(int64_t prompt_tokens, double now);
  // Tokens generated for an admitted request, settled as they arrive.
  void add_completion_tokens(int64_t n, double now);
  // An admitted request ended: its concurrency slot is free.
  void release();
  // The request never ran (the engine refused it): gives back what try_admit took.
  void refund(int64_t prompt_tokens, double now);

  Snapshot snapshot(double now);
  KeyCounters counters() const;
  int64_t in_flight() const;

 private:
  const std::string name_;
  mutable std::mutex mu_;
  KeyLimits limits_;
  TokenBucket requests_, tokens_;
  int64_t in_flight_ = 0;
  KeyCounters counters_;
};

}  // namespace kiln::server::limits
