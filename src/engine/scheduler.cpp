#include "engine/scheduler.h"

#include <algorithm>

#include "engine/block_hash.h"
#include "engine/request_state.h"
#include "util/status.h"

namespace kiln {
namespace {

bool runs_before(const Sequence* a, const Sequence* b) {
  if (a->priority != b->priority) return a->priority < b->priority;
  if (a->arrival_order != b->arrival_order) return a->arrival_order < b->arrival_order;
  return a->sample_index < b->sample_index;
}

}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager& kv) : config_(config), kv_(kv) {
  KILN_CHECK(config.max_num_seqs > 0 && config.max_num_batched_tokens > 0);
}

void Scheduler::insert_waiting(Sequence* seq) {
  seq->running = false;
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), seq, runs_before), seq);
}

void Scheduler::add_waiting(Sequence* seq) {
  KILN_CHECK(seq->blocks.table.empty() && seq->num_computed == 0);
  insert_waiting(seq);
}

void Scheduler::add_running(Sequence* seq) {
  seq->running = true;
  running_.push_back(seq);
  running_slots_ += running_slots_needed(seq);
}

void Scheduler::add_fork(Sequence* parent, Sequence* child) {
  KILN_CHECK(parent->running && parent->forks_pending > 0 && child->blocks.table.empty());
  --parent->forks_pending;
  kv_.fork(parent->blocks, child->blocks);
  child->running = true;
  running_.push_back(child);
}

void Scheduler::remove(Sequence* seq) {
  if (seq->running) {
    auto it = std::find(running_.begin(), running_.end(), seq);
    KILN_CHECK(it != running_.end());
    running_.erase(it);
    running_slots_ -= running_slots_needed(seq);
  } else {
    auto it = std::find(waiting_.begin(), waiting_.end(), seq);
    if (it != waiting_.end()) waiting_.erase(it);
  }
  seq->running = false;
  kv_.release(seq->blocks);
}

Sequence* Scheduler::newest_running() const {
  Sequence* newest = nullptr;
  for (Sequence* s : running_)
    if (!newest || runs_before(newest, s)) newest = s;
  return newest;
}

void Scheduler::preempt(Sequence* seq, SchedulerStep& step, int32_t& budget) {
  auto chunk = std::find_if(step.chunks.begin(), step.chunks.end(),
                            [&](const ScheduledChunk& c) { return c.seq == seq; });
  if (chunk != step.chunks.end()) {
    budget += chunk->num_tokens;
    step.num_tokens -= chunk->num_tokens;
    step.chunks.erase(chunk);
  }
  running_.erase(std::find(running_.begin(), running_.end(), seq));
  running_slots_ -= running_slots_needed(seq);
  kv_.release(seq->blocks);
  seq->num_computed = 0;
  seq->draft.clear();
  insert_waiting(seq);
  step.preempted.push_back(seq);
}

SchedulerStep Scheduler::schedule() {
  SchedulerStep step;
  int32_t budget = config_.max_num_batched_tokens;
  auto add_chunk = [&](Sequence* s, int32_t n) {
    step.chunks.push_back({s, n, s->num_computed + n == (int32_t)s->tokens.size()});
    step.num_tokens += n;
    budget -= n;
  };

  // Running sequences: decodes first, then prompts part-way through.
  std::vector<Sequence*> order;
  order.reserve(running_.size());
  for (Sequence* s : running_)
    if (s->num_remaining() == 1) order.push_back(s);
  for (Sequence* s : running_)
    if (s->num_remaining() > 1) order.push_back(s);
  for (Sequence* s : order) {
    if (!s->running) continue;  // preempted earlier in this loop
    if (budget == 0) break;
    // A decode carries its speculative draft when the budget and the pool allow; a draft
    // is dropped before anything is preempted for it.
    if (!s->draft.empty() && s->num_remaining() == 1) {
      const int32_t d = std::min((int32_t)s->draft.size(), budget - 1);
      s->draft.resize((size_t)std::max(d, 0));
      if (d > 0 && kv_.allocate(s->blocks, s->num_computed, s->num_computed + 1 + d, step.copies)) {
        add_chunk(s, 1 + d);
        step.chunks.back().needs_logits = true;
        step.chunks.back().num_draft = d;
        continue;
      }
      s->draft.clear();
    }
    const int32_t n = std::min(s->num_remaining(), budget);
    for (;;) {
      if (kv_.allocate(s->blocks, s->num_computed, s->num_computed + n, step.copies)) {
        add_chunk(s, n);
        break;
      }
      Sequence* victim = newest_running();
      preempt(victim, step, budget);
      if (victim == s) break;
    }
  }

  // Admit waiting sequences, unless this step already had to preempt.
  while (step.preempted.empty() && !waiting_.empty() && budget > 0) {
    Sequence* s = waiting_.front();
    if (running_slots_ + running_slots_needed(s) > config_.max_num_seqs) break;
    const int32_t cached = kv_.match_prefix(s->blocks, s->tokens, s->request->cache_key);
    s->num_computed = cached;
    const int32_t remaining = s->num_remaining();
    int32_t n = std::min(remaining, budget);
    // Without chunked prefill a prompt runs whole, unless it is longer than any step.
    const bool must_wait = !config_.chunked_prefill && n < remaining &&
                           remaining <= config_.max_num_batched_tokens;
    if (must_wait || !kv_.allocate(s->blocks, cached, cached + n, step.copies)) {
      kv_.release(s->blocks);
      s->num_computed = 0;
      break;
    }
    kv_.record_prefix_query((int32_t)s->tokens.size(), cached);
    waiting_.pop_front();
    add_running(s);
    step.admitted.push_back(s);
    add_chunk(s, n);
  }
  return step;
}

void Scheduler::complete(const SchedulerStep& step) {
  for (const ScheduledChunk& c : step.chunks) {
    Sequence* s = c.seq;
    s->num_computed += c.num_tokens - c.num_draft;
    kv_.commit(s->blocks, s->tokens, s->num_computed, s->request->cache_key);
  }
}

}  // namespace kiln
