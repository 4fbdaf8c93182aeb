// What a request asks of sampling and stopping, with OpenAI's and vLLM's meanings and
// ranges. Plain data: the sampler (sampler.h), the stop matcher (stop_matcher.h) and the
// engine read it; validate() is the one place a caller's mistake in it is caught.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

namespace kiln {

struct SamplingParams {
  static constexpr int32_t kMaxN = 128;
  static constexpr int32_t kMaxLogprobs = 20;
  static constexpr size_t kMaxStops = 16;

  float temperature = 1.0f;         // 0 (below 1e-5, as vLLM): greedy
  float top_p = 1.0f;               // (0, 1]; 1: off
  int32_t top_k = 0;                // <= 0: off (-1 accepted, as vLLM)
  float min_p = 0.0f;               // [0, 1]; 0: off
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  float repetition_penalty = 1.0f;  // > 0; 1: off
  // Token id -> bias in [-100, 100], added to the logit. Entries for one id add up.
  std::vector<std::pair<int32_t, float>> logit_bias;
  std::optional<uint64_t> seed;
  int32_t n = 1;  // [1, kMaxN]
  // -1: until the context is full; else >= 1. NOTE: 0 is rejected (as vLLM does): it
  // only makes sense with prompt logprobs (OpenAI's echo), which kiln does not offer.
  int32_t max_tokens = -1;
  int32_t min_tokens = 0;         // >= 0, <= max_tokens when that is set
  std::vector<std::string> stop;  // at most kMaxStops, none empty
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;
  int32_t logprobs = -1;  // -1: off; 0: the chosen token's; k <= kMaxLogprobs: top k too
  bool skip_special_tokens = true;

  bool greedy() const { return temperature < 1e-5f; }

  // The first invalid field, in a message that begins with the field's name (e.g.
  // "top_p must be in (0, 1], got 1.5"), so the HTTP layer can report it as OpenAI's
  // `param`. Token ids (logit_bias, stop_token_ids) must lie in [0, vocab_size).
  Status validate(int64_t vocab_size) const;
};

}  // namespace kiln
