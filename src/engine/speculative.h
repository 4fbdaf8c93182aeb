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
  // ngram: prompt lookup (below). draft: a smaller model with the same vocabulary guesses
  // greedily (engine/draft_model_proposer.h), handed to the engine as EngineConfig's
  // draft_proposer.
  enum class Method { kNone, kNgram, kDraft };
  Method method = Method::kNone;
  std::string draft_model;  // kDraft: the draft model's file, as given
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

// A proposer that keeps state of its own per sequence (a draft model's KV). The engine
// loop calls it, one sequence at a time, for each decoding sequence that may speculate.
class TokenProposer {
 public:
  virtual ~TokenProposer() = default;
  // Writes up to k guesses for the tokens that follow `tokens` (the sequence so far) into
  // `out` (cleared first; empty when it has none). `seq_id` names the sequence, so state
  // kept from its previous call can be reused.
  virtual void propose(int64_t seq_id, std::span<const int32_t> tokens, int32_t k,
                       std::vector<int32_t>& out) = 0;
};

// Prompt lookup: finds the most recent earlier occurrence of the sequence's last n tokens,
// for n from prompt_lookup_max down to prompt_lookup_min, and writes up to `k` tokens that
// followed it into `out` (cleared first; left empty when nothing matches).
void propose_ngram(std::span<const int32_t> tokens, int32_t k, int32_t min_n, int32_t max_n,
                   std::vector<int32_t>& out);

}  // namespace kiln
