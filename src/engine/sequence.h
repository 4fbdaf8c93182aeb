// The engine's state for one sample of one request: its tokens (prompt, then output), how
// many of them have KV computed, its blocks, and its sampling and stop state. A request
// with n samples runs as one sequence until its prompt is computed and then forks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/sampler.h"
#include "engine/stop_matcher.h"
#include "structured/grammar_matcher.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

struct RequestState;

struct Sequence {
  int64_t seq_id = 0;
  RequestState* request = nullptr;
  int32_t sample_index = 0;

  std::vector<int32_t> tokens;  // prompt then generated
  int32_t num_prompt_tokens = 0;
  int32_t num_computed = 0;  // tokens whose KV is in the cache
  SequenceBlocks blocks;
  int32_t forks_pending = 0;  // samples still to fork off once the prompt is computed

  // Scheduling order: lower priority value first, then earlier arrival.
  int32_t priority = 0;
  uint64_t arrival_order = 0;
  bool running = false;

  std::unique_ptr<SequenceSampler> sampler;
  std::unique_ptr<IncrementalDecoder> detokenizer;      // null without a tokenizer
  std::unique_ptr<StopMatcher> stop_matcher;            // null without stop strings
  std::unique_ptr<structured::GrammarMatcher> matcher;  // null without structured output
  // The allowed tokens for this step, when computed ahead (in parallel across sequences).
  structured::TokenMask grammar_mask;
  bool grammar_mask_ready = false;
  // Speculative decoding: tokens proposed to follow tokens.back(), checked this step.
  std::vector<int32_t> draft;
  bool finished = false;

  int32_t num_generated() const { return (int32_t)tokens.size() - num_prompt_tokens; }
  int32_t num_remaining() const { return (int32_t)tokens.size() - num_computed; }
};

}  // namespace kiln
