// Engine-wide counters and gauges, copied out after every step for the metrics endpoint,
// the benchmarks and the tests. Counters only grow.
#pragma once

#include <array>
#include <cstdint>

#include "engine/speculative.h"

namespace kiln {

// Forward passes of one kind: how many, the tokens they computed, and their wall time.
struct StepTimes {
  int64_t steps = 0;
  int64_t tokens = 0;
  double seconds = 0;
};

struct EngineStats {
  // Gauges, as of the end of the last step.
  int32_t num_running = 0;  // sequences scheduled or holding KV
  int32_t num_waiting = 0;  // sequences queued, including preempted ones
  int32_t kv_blocks_total = 0;
  int32_t kv_blocks_used = 0;  // referenced by some sequence (cached free blocks excluded)

  // Counters.
  int64_t num_steps = 0;
  int64_t num_batched_tokens = 0;   // tokens computed, summed over steps
  int32_t max_step_tokens = 0;      // the largest step so far
  int64_t prompt_tokens_computed = 0;  // prompt tokens run through the model (not cached)
  int64_t generation_tokens = 0;
  int64_t prefix_queried_tokens = 0;
  int64_t prefix_hit_tokens = 0;
  int64_t num_preemptions = 0;
  int64_t requests_finished_stop = 0, requests_finished_length = 0, requests_finished_abort = 0;
  int64_t structured_requests = 0;  // requests whose output a grammar constrained
  double grammar_mask_seconds = 0;  // spent making token masks (summed over threads)
  // Tokens appended without a forward pass because the grammar allowed nothing else.
  int64_t grammar_forced_tokens = 0;
  // Speculative decoding (vLLM's spec_decode counters): drafts checked, tokens they
  // proposed, tokens accepted, and acceptances at each draft position.
  int64_t spec_drafts = 0;
  int64_t spec_draft_tokens = 0;
  int64_t spec_accepted_tokens = 0;
  std::array<int64_t, kMaxSpeculativeTokens> spec_accepted_per_position{};
  // KV slots held by running sequences, and of those the ones holding no token yet (the
  // unused tail of each last block), summed over steps: their ratio is the KV waste.
  int64_t kv_slots_held = 0;
  int64_t kv_slots_unused = 0;
  // The model's forward passes, split by whether they computed any prompt token: a decode
  // step's cost against a step that carries a prompt chunk is what bounds batched
  // throughput (docs/benchmarks.md, "What bounds batching on two cores").
  StepTimes decode_steps;
  StepTimes prompt_steps;
};

}  // namespace kiln
