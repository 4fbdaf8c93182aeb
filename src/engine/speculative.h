// Speculative decoding: a proposer guesses the next few tokens of a decoding sequence, the
// target model computes all of them in the step's one forward pass (as a short slice, like
// a prompt chunk), and each guess is kept while it is what the target itself samples there
// (SequenceSampler::verify: exact for greedy, and distribution-preserving rejection
// sampling otherwise). On a CPU, decode reads every weight once per step whatever the
// slice length, so a step that checks k guesses costs little more than one that makes one
// token, and every accepted guess is a token for free.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/status.h"

namespace kiln {

inline constexpr int32_t kMaxSpeculativeTokens = 16;

struct SpeculativeConfig {
  enum class Method { kNone, kNgram };
  Method method = Method::kNone;
  int32_t num_speculative_tokens = 0;  // k: tokens proposed per step at most
  // ngram (prompt lookup): the longest n-gram of this range ending the sequence that
  // occurred before in its prompt or output proposes what followed it there.
  int32_t prompt_lookup_min = 2;
  int32_t prompt_lookup_max = 4;
  // Speculation stops while this many sequences or more are running: a batch that large
  // is compute-bound on a CPU, and checking guesses would cost throughput there.
  int32_t disable_by_batch_size = 4;

  bool enabled() const { return method != Method::kNone && num_speculative_tokens > 0; }
  Status validate() const;
};

// Prompt lookup: finds the most recent earlier occurrence of the sequence's last n tokens,
// for n from prompt_lookup_max down to prompt_lookup_min, and writes up to `k` tokens that
// followed it into `out` (cleared first; left empty when nothing matches).
void propose_ngram(std::span<const int32_t> tokens, int32_t k, int32_t min_n, int32_t max_n,
                   std::vector<int32_t>& out);

}  // namespace kiln
