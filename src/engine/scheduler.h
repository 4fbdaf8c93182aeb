// Iteration-level scheduling (STYLE.md rule 4): there are no prefill or decode modes.
// Every sequence has tokens computed and tokens it holds; a step advances the first toward
// the second within a token budget. Running sequences that decode go first, then running
// sequences part-way through their prompt, then waiting ones are admitted while blocks,
// sequence slots and budget last, each taking as many prompt tokens as the budget leaves
// (chunked prefill). When a running sequence cannot get a block, the newest running
// sequence (lowest priority first) is preempted: its blocks go back to the pool and it
// waits to be recomputed, often mostly from the prefix cache.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/sequence.h"

namespace kiln {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;              // running sequences at once
  int32_t max_num_batched_tokens = 512;   // tokens one step computes
  bool chunked_prefill = true;            // off: a prompt is computed in one step
};

struct ScheduledChunk {
  Sequence* seq;
  int32_t num_tokens;  // tokens [seq->num_computed, + num_tokens) run this step
  bool needs_logits;   // the chunk ends at the sequence's last token
  // The last num_draft of those are seq->draft (speculative, not yet in seq->tokens);
  // complete() counts only the others as computed, the engine adds the accepted ones.
  int32_t num_draft = 0;
};

struct SchedulerStep {
  std::vector<ScheduledChunk> chunks;
  std::vector<BlockCopy> copies;      // run before the forward pass
  std::vector<Sequence*> preempted;   // moved back to waiting this step
  std::vector<Sequence*> admitted;    // moved from waiting to running this step
  int32_t num_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvCacheManager& kv);

  const SchedulerConfig& config() const { return config_; }
  int32_t num_waiting() const { return (int32_t)waiting_.size(); }
  int32_t num_running() const { return (int32_t)running_.size(); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  const std::vector<Sequence*>& running() const { return running_; }
  Sequence* first_waiting() const { return waiting_.empty() ? nullptr : waiting_.front(); }

  // Queues a new sequence (holding no blocks).
  void add_waiting(Sequence* seq);
  // Starts `child`, a new sample of the running `parent` holding the same tokens: it
  // shares the parent's blocks and takes one of the slots the parent reserved.
  void add_fork(Sequence* parent, Sequence* child);
  // Takes a finished or aborted sequence out of the queues and releases its blocks.
  void remove(Sequence* seq);

  // Chooses this step's work and takes the blocks it needs.
  SchedulerStep schedule();
  // After the forward pass: advances each chunk's sequence and offers full blocks to the
  // prefix cache.
  void complete(const SchedulerStep& step);

 private:
  void add_running(Sequence* seq);
  void preempt(Sequence* seq, SchedulerStep& step, int32_t& budget);
  Sequence* newest_running() const;
  void insert_waiting(Sequence* seq);
  int32_t running_slots_needed(const Sequence* seq) const { return 1 + seq->forks_pending; }

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::deque<Sequence*> waiting_;  // sorted by (priority, arrival_order)
  std::vector<Sequence*> running_;  // in admission order
  int32_t running_slots_ = 0;       // running sequences plus the forks they will make
};

}  // namespace kiln
