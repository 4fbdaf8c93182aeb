// Turns a row of logits into the next token: greedy at temperature 0, otherwise
// temperature -> top-k -> top-p -> min-p, then a draw from a per-sequence seeded RNG.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace kiln {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;     // <= 0: off
  float top_p = 0.95f;    // 1: off
  float min_p = 0.0f;     // 0: off
  uint64_t seed = 0;

  // Names the first invalid field.
  Status validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);
  int32_t sample(std::span<const float> logits);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused across calls
};

int32_t argmax(std::span<const float> logits);

}  // namespace kiln
