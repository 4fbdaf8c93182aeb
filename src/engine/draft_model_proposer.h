// Speculative decoding's draft model: a smaller model with the target's vocabulary guesses
// the next k tokens greedily, one forward pass per guess, in a KV cache of its own.
//
// The draft's KV lives in Sessions (one contiguous sequence each), a few of them reused
// least-recently-used first, not in the engine's paged pool: the draft never shares blocks,
// and keeping it apart leaves the target's pool, the prefix cache and their events as they
// are. Each call keeps the session's tokens that still agree with the sequence (the prompt
// and every accepted token) and computes only the rest: after a step that accepted j of k
// guesses, that is the token the target added plus the next guesses. A sequence the draft
// has not seen costs one prefill of its prompt in the draft, and a greedy guess is a point
// mass, so the engine's verification keeps the target's distribution exactly
// (SequenceSampler::verify).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/session.h"
#include "engine/speculative.h"
#include "model/model.h"

namespace kiln {

class DraftModelProposer final : public TokenProposer {
 public:
  // `max_tokens`: the longest sequence to draft for (the engine's max_model_len); longer
  // ones get no guesses. `num_slots` sequences keep their draft KV between calls.
  DraftModelProposer(Model& draft, int64_t max_tokens, int32_t num_slots);

  void propose(int64_t seq_id, std::span<const int32_t> tokens, int32_t k,
               std::vector<int32_t>& out) override;

  // The KV memory of every slot once full (sessions are made on first use, and their
  // pages taken as they fill): what the draft adds to the model's memory besides weights.
  int64_t max_kv_bytes() const {
    return (int64_t)slots_.size() * Session::kv_bytes(draft_, max_tokens_);
  }

  // Tokens the draft model has run, prompts included (for tests and the log).
  int64_t tokens_computed() const { return tokens_computed_; }

 private:
  struct Slot {
    std::unique_ptr<Session> session;  // created on first use: its KV is max_tokens long
    std::vector<int32_t> tokens;       // what the session holds
    int64_t seq_id = -1;
    uint64_t last_used = 0;
  };
  Slot& slot_for(int64_t seq_id);
  // Runs `ids` after the slot's tokens; false (the slot emptied) if the draft fails.
  bool append(Slot& slot, std::span<const int32_t> ids);

  Model& draft_;
  int64_t max_tokens_;
  std::vector<Slot> slots_;
  uint64_t clock_ = 0;
  int64_t tokens_computed_ = 0;
};

}  // namespace kiln
