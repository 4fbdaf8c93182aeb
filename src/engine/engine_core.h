// The engine's single-threaded heart: requests in, one step at a time, outputs out to each
// request's stream. Engine (engine.h) runs it on its own thread; tests may step it
// directly for determinism. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/engine_stats.h"
#include "engine/execution_backend.h"
#include "engine/kv_cache_manager.h"
#include "engine/kv_events.h"
#include "engine/request.h"
#include "engine/request_state.h"
#include "engine/scheduler.h"
#include "engine/speculative.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

struct EngineConfig {
  SchedulerConfig scheduler;
  bool prefix_caching = true;
  // Structured output: a token the grammar leaves as the only choice is appended without
  // a forward pass of its own (it joins the next step's slice), which is exact: sampling
  // from one allowed token gives that token with probability 1.
  bool grammar_jump_forward = true;
  SpeculativeConfig speculative;  // off by default
  // Method kDraft's proposer (a draft model); the engine loop is its only caller.
  std::shared_ptr<TokenProposer> draft_proposer;
  int32_t max_model_len = 0;  // prompt + output limit; 0: what the KV pool holds
  // End-of-generation ids when there is no tokenizer (tests); with one, its own.
  std::vector<int32_t> eos_token_ids;
  // Receives each step's prefix-cache events (kv_events.h); null: none are recorded.
  std::shared_ptr<KvEventSink> kv_event_sink;
};

class EngineCore {
 public:
  // The backend and the tokenizer (null: no text, no stop strings) must outlive the core.
  EngineCore(ExecutionBackend& backend, const Tokenizer* tokenizer, const EngineConfig& config);
  ~EngineCore();

  int32_t max_model_len() const { return max_model_len_; }
  const EngineConfig& config() const { return config_; }

  // A caller's mistake, named: bad sampling field, empty or too long prompt, ...
  Status validate(const GenerationRequest& request) const;
  // Queues a validated request; its outputs go to `stream`.
  void add_request(uint64_t id, GenerationRequest request, std::shared_ptr<RequestStream> stream);
  // Finishes the request with reason abort and frees its blocks now. Unknown ids (already
  // finished) are ignored.
  void abort(uint64_t id);
  void abort_all();

  bool has_work() const { return scheduler_.has_work(); }
  // Schedules, runs and samples one step; returns the number of tokens it computed.
  int32_t step();

  const EngineStats& stats() const { return stats_; }
  const KvCacheManager& kv_cache() const { return kv_; }

  // The ids that end generation (the tokenizer's end-of-generation tokens, or the config's).
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }
  int64_t vocab_size() const { return vocab_size_; }

 private:
  bool is_eos(int32_t token) const;
  // Sets the logits of tokens the sequence's grammar does not allow now to -inf; false
  // when it allows none.
  bool apply_grammar(Sequence& s, std::span<float> logits);
  void compute_grammar_masks(const SchedulerStep& step);
  void fill_masks(std::span<Sequence* const> seqs, size_t min_parallel);
  void start_sequence(RequestState& r, Sequence& s, int32_t sample_index);
  void run_step(const SchedulerStep& step);
  void fork_samples(Sequence& parent, std::span<const float> logits);
  void sample_and_append(Sequence& s, std::span<float> logits);
  // Everything after the choice of a token: matcher, stop checks, stream, finish.
  void append_token(Sequence& s, const SampledToken& sampled);
  // After sampling: the next masks of the step's constrained sequences (in parallel), and
  // each token the grammar forces appended at once (see grammar_jump_forward).
  void jump_forward();
  // Speculative decoding: proposals for this step's decoding sequences, and after the
  // forward pass the check of one sequence's draft against its logit rows.
  void propose_drafts();
  void verify_draft(Sequence& s, std::span<float> rows);
  // The ids sampling must not choose now (min_tokens holds back the end), in suppressed_.
  void collect_suppressed(const Sequence& s);
  void finish_sequence(Sequence& s, FinishReason reason, const std::string& text,
                       StopCause cause = {});
  void finish_request(RequestState& r, FinishReason reason, Status error);
  void end_request(RequestState& r, Status error);
  void fail_step(const SchedulerStep& step, const Status& error);
  void flush_outputs();
  void update_gauges();
  // Hands the step's prefix-cache events to config_.kv_event_sink, if any.
  void publish_kv_events();

  ExecutionBackend& backend_;
  const Tokenizer* tokenizer_;
  EngineConfig config_;
  int32_t max_model_len_;
  int64_t vocab_size_;
  std::vector<int32_t> eos_ids_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  std::unordered_map<uint64_t, std::unique_ptr<RequestState>> requests_;
  std::vector<uint64_t> finished_ids_;  // erased at the end of a step
  int64_t next_seq_id_ = 0;
  uint64_t next_arrival_ = 0;
  EngineStats stats_;

  // Step buffers, reused.
  std::vector<int32_t> token_ids_, positions_, logit_rows_;
  std::vector<SequenceSlice> slices_;
  std::vector<float> logits_, fork_logits_;
  std::vector<int32_t> suppressed_;
  std::vector<Sequence*> grammar_seqs_;
  std::vector<Sequence*> sampled_constrained_;  // this step's, for jump_forward
};

}  // namespace kiln
