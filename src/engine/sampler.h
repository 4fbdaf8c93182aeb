// Turns one sequence's row of logits into its next token, with vLLM's semantics:
//   logit_bias -> repetition penalty (prompt and output tokens) -> frequency and presence
//   penalties (output tokens) -> temperature (0: argmax, ties to the lowest id) -> top-k
//   (ties with the k-th logit stay) -> top-p (on the top-k set renormalised) -> min-p ->
//   a draw from the sequence's own RNG.
// Logprobs describe the distribution actually sampled from: the log-softmax after bias,
// penalties and temperature (1 when greedy), renormalised over the tokens top-k, top-p and
// min-p keep. `top` lists only kept tokens, so it holds fewer than `logprobs` entries when
// fewer were kept. NOTE: vLLM by default reports the raw model logprobs instead; we report
// the sampled distribution so a token's logprob is the probability it was drawn with.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "engine/sampling_params.h"

namespace kiln {

struct TokenLogprob {
  int32_t token;
  float logprob;
};

struct SampledToken {
  int32_t token;
  float logprob = 0;              // filled when params.logprobs >= 0
  std::vector<TokenLogprob> top;  // params.logprobs entries at most, best first
};

// How often each token id occurred, for the penalties: open addressing over the ids, so a
// sequence pays for the distinct tokens it has seen rather than for the whole vocabulary,
// and add() allocates only when the table doubles.
class TokenCounts {
 public:
  void add(int32_t token);
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.token >= 0) f(s.token, s.count);
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    int32_t token = -1;  // -1: empty
    int32_t count = 0;
  };
  Slot& find_or_insert(int32_t token);  // precondition: the table has a free slot
  std::vector<Slot> slots_;             // power-of-two size, at most half full
  size_t size_ = 0;
};

// One sequence's sampler: owns its RNG (so a seeded sequence draws the same tokens
// whatever else runs in the process) and the token counts penalties need. Not thread-safe;
// distinct sequences' samplers may run on different threads.
class SequenceSampler {
 public:
  // params must have passed validate(vocab_size). seed: the request's seed (the engine
  // derives distinct per-sample seeds for n > 1) or a random one.
  SequenceSampler(const SamplingParams& params, uint64_t seed, std::span<const int32_t> prompt,
                  int64_t vocab_size);
  SequenceSampler(const SequenceSampler&) = delete;
  SequenceSampler& operator=(const SequenceSampler&) = delete;
  SequenceSampler(SequenceSampler&&) = default;
  SequenceSampler& operator=(SequenceSampler&&) = default;

  // Picks the next token from this step's logits (vocab_size floats, overwritten as
  // scratch). `suppressed` lists ids that must not be chosen now (the engine passes EOS and
  // stop_token_ids while fewer than min_tokens have been generated); at least one token
  // must remain allowed.
  SampledToken sample(std::span<float> logits, std::span<const int32_t> suppressed = {});
  // Records a generated token (for frequency/presence/repetition penalties).
  void accept(int32_t token);
  // The token when it was the only one allowed (structured output's jump-forward): what
  // sample() returns then, without the logits: logprob 0, itself as the only top entry.
  // It draws from the seeded generator as sample() would, so a seeded request's later
  // tokens are the same whether or not the engine jumped forward.
  SampledToken forced(int32_t token);
  // Speculative decoding's check of a proposed token `draft` against this position's
  // logits (overwritten as scratch). Greedy: the argmax, accepted when it is the draft.
  // Sampling, for a proposer that picks its token deterministically (a point mass q):
  // the draft is accepted with probability p(draft), otherwise the token is drawn from p
  // with the draft removed and renormalised (max(0, p - q), normalised). Either way the
  // token returned is distributed exactly as sample() would draw it, and its logprob and
  // top entries are those sample() would report.
  SampledToken verify(std::span<float> logits, std::span<const int32_t> suppressed, int32_t draft,
                      bool& accepted);

 private:
  // weight: exp((logit - max logit) / temperature), the unnormalised probability.
  struct Candidate {
    float weight;
    int32_t token;
  };
  struct Kept;
  void apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> suppressed);
  Kept truncate(std::span<float> logits, float inv_temperature, float max_logit);
  int32_t draw(std::span<const float> weights, const Kept& kept);
  void fill_logprobs(std::span<const float> weights, const Kept& kept, SampledToken& out);

  float temperature_, top_p_, min_p_;
  int32_t top_k_;
  float presence_penalty_, frequency_penalty_, repetition_penalty_;
  std::vector<std::pair<int32_t, float>> logit_bias_;
  int32_t num_logprobs_;
  int64_t vocab_size_;
  std::mt19937_64 rng_;
  TokenCounts output_counts_;  // generated tokens (frequency and presence penalties)
  TokenCounts seen_;           // prompt and generated tokens (repetition penalty)
  // Scratch reused across calls; grows to the largest kept set seen, not to the vocabulary.
  std::vector<Candidate> candidates_;
  std::vector<float> heap_;  // the top_k largest logits, to find the k-th
};

// The index of the largest logit, the lowest such index on ties.
int32_t argmax(std::span<const float> logits);

}  // namespace kiln
