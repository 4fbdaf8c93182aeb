// How many KV blocks a memory budget buys: the `--kv-cache-memory` flag's parsing and its
// default, which the log reports as a number of tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/status.h"

namespace kiln {

// "4GiB", "512MiB", "2G", "1.5GB", "1000000" (bytes). Binary and decimal suffixes mean
// what they say (GiB = 2^30, GB = 10^9); a bare K/M/G is binary, as in `free -h`.
StatusOr<int64_t> parse_byte_size(std::string_view text);
std::string format_bytes(int64_t bytes);  // "1.50 GiB"

// MemAvailable from /proc/meminfo; 0 when unknown.
int64_t available_memory_bytes();

struct KvBudget {
  int64_t bytes = 0;
  int32_t num_blocks = 0;
  int64_t num_tokens = 0;
};

// The pool for `requested_bytes` (<= 0: the default, a quarter of available memory capped
// at 4 GiB), never less than one full context of max_model_len tokens. An error says what
// to change when even that does not fit in available memory.
StatusOr<KvBudget> plan_kv_budget(int64_t requested_bytes, int64_t bytes_per_token,
                                  int32_t block_size, int64_t max_model_len,
                                  int64_t available_bytes);

}  // namespace kiln
