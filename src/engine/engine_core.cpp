#include "engine/engine_core.h"

#include <algorithm>
#include <chrono>
#include <bit>
#include <random>
#include <string>

#include "engine/block_hash.h"

namespace kiln {
namespace {

uint64_t sample_seed(uint64_t base_seed, int32_t sample_index) {
  // splitmix64 of (base, index): distinct, reproducible streams per sample.
  uint64_t x = base_seed + 0x9e3779b97f4a7c15ull * (uint64_t)(sample_index + 1);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

int32_t pool_capacity(const ExecutionBackend& backend) {
  return backend.num_kv_blocks() * backend.kv_block_size();
}

}  // namespace

EngineCore::EngineCore(ExecutionBackend& backend, const Tokenizer* tokenizer,
                       const EngineConfig& config)
    : backend_(backend),
      tokenizer_(tokenizer),
      config_(config),
      max_model_len_(config.max_model_len > 0
                         ? std::min(config.max_model_len, pool_capacity(backend))
                         : pool_capacity(backend)),
      vocab_size_(backend.vocab_size()),
      kv_(backend.num_kv_blocks(), backend.kv_block_size(), config.prefix_caching),
      scheduler_(
          [&] {
            SchedulerConfig s = config.scheduler;
            s.max_num_batched_tokens =
                std::min(s.max_num_batched_tokens, backend.max_batch_tokens());
            return s;
          }(),
          kv_) {
  if (tokenizer_) {
    for (int32_t id = 0; id < (int32_t)tokenizer_->vocab_size(); ++id)
      if (tokenizer_->is_end_of_generation(id)) eos_ids_.push_back(id);
  } else {
    eos_ids_ = config.eos_token_ids;
  }
  kv_.set_record_events(config.kv_event_sink != nullptr);
  KILN_CHECK(config.speculative.method != SpeculativeConfig::Method::kDraft ||
             config.draft_proposer != nullptr);
  update_gauges();
}

EngineCore::~EngineCore() { abort_all(); }

bool EngineCore::is_eos(int32_t token) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end();
}

Status EngineCore::validate(const GenerationRequest& request) const {
  const auto& p = request.sampling;
  const int64_t num_prompt = (int64_t)request.prompt.size();
  if (num_prompt == 0) return Status::Error("prompt must contain at least one token");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab_size_)
      return Status::Error("prompt contains token id " + std::to_string(id) +
                           " outside the vocabulary of " + std::to_string(vocab_size_));
  KILN_RETURN_IF_ERROR(p.validate(vocab_size_));
  const std::string context =
      "this model's maximum context length is " + std::to_string(max_model_len_) + " tokens";
  if (num_prompt >= max_model_len_)
    return Status::Error(context + ", but the prompt has " + std::to_string(num_prompt) +
                         " tokens (no room for output)");
  if (p.max_tokens > 0 && num_prompt + p.max_tokens > max_model_len_)
    return Status::Error("max_tokens: " + context + ", but " + std::to_string(num_prompt) +
                         " prompt tokens + max_tokens " + std::to_string(p.max_tokens) +
                         " exceed it");
  if (p.n > scheduler_.config().max_num_seqs)
    return Status::Error("n must be at most " + std::to_string(scheduler_.config().max_num_seqs) +
                         " (the engine's --max-num-seqs)");
  // min_tokens holds back EOS and the stop ids; something must stay allowed.
  if (p.min_tokens > 0 && (int64_t)(p.stop_token_ids.size() + eos_ids_.size()) >= vocab_size_)
    return Status::Error("stop_token_ids cover the whole vocabulary, so min_tokens cannot be met");
  if (!p.stop.empty() && !tokenizer_) return Status::Error("stop: stop strings need a tokenizer");
  if (request.grammar && request.grammar->vocab().mask_size() != vocab_size_)
    return Status::Error("grammar: compiled for a vocabulary of " +
                         std::to_string(request.grammar->vocab().mask_size()) +
                         " tokens, the model has " + std::to_string(vocab_size_));
  if (!scheduler_.config().chunked_prefill &&
      num_prompt > scheduler_.config().max_num_batched_tokens)
    return Status::Error(
        "prompt of " + std::to_string(num_prompt) + " tokens exceeds --max-num-batched-tokens " +
        std::to_string(scheduler_.config().max_num_batched_tokens) + " and chunked prefill is off");
  return Status::Ok();
}

void EngineCore::start_sequence(RequestState& r, Sequence& s, int32_t sample_index) {
  const SamplingParams& p = r.request.sampling;
  s.seq_id = next_seq_id_++;
  s.request = &r;
  s.sample_index = sample_index;
  s.priority = r.request.priority;
  s.arrival_order = r.sequences.empty() ? next_arrival_++ : r.sequences[0]->arrival_order;
  s.sampler = std::make_unique<SequenceSampler>(p, sample_seed(r.base_seed, sample_index),
                                                r.request.prompt, vocab_size_);
  if (tokenizer_)
    s.detokenizer = std::make_unique<IncrementalDecoder>(*tokenizer_, p.skip_special_tokens);
  if (!p.stop.empty())
    s.stop_matcher = std::make_unique<StopMatcher>(p.stop, p.include_stop_str_in_output);
  if (r.request.grammar)
    s.matcher = std::make_unique<structured::GrammarMatcher>(r.request.grammar);
}

void EngineCore::add_request(uint64_t id, GenerationRequest request,
                             std::shared_ptr<RequestStream> stream) {
  auto r = std::make_unique<RequestState>();
  r->id = id;
  r->request = std::move(request);
  r->stream = std::move(stream);
  r->cache_key = hash_extra_key(r->request.cache_salt);
  r->base_seed = r->request.sampling.seed ? *r->request.sampling.seed : std::random_device{}();
  r->times.arrival = Clock::now();
  if (r->request.grammar) ++stats_.structured_requests;
  r->stream->set_prompt_info((int32_t)r->request.prompt.size(), 0);

  auto seq = std::make_unique<Sequence>();
  start_sequence(*r, *seq, 0);
  seq->tokens = r->request.prompt;
  seq->num_prompt_tokens = (int32_t)seq->tokens.size();
  seq->forks_pending = r->request.sampling.n - 1;
  scheduler_.add_waiting(seq.get());
  r->sequences.push_back(std::move(seq));
  requests_.emplace(id, std::move(r));
  update_gauges();
}

void EngineCore::finish_request(RequestState& r, FinishReason reason, Status error) {
  r.times.finished = Clock::now();
  switch (reason) {
    case FinishReason::kStop:
      ++stats_.requests_finished_stop;
      break;
    case FinishReason::kLength:
      ++stats_.requests_finished_length;
      break;
    case FinishReason::kAbort:
      ++stats_.requests_finished_abort;
      break;
  }
  r.stream->finish(r.times, std::move(error));
  finished_ids_.push_back(r.id);
}

void EngineCore::finish_sequence(Sequence& s, FinishReason reason, const std::string& text,
                                 StopCause cause) {
  RequestState& r = *s.request;
  scheduler_.remove(&s);
  s.finished = true;
  r.stream->finish_sample(s.sample_index, reason, text, std::move(cause));
  if (++r.num_finished == r.request.sampling.n) finish_request(r, reason, Status::Ok());
}

// Ends every unfinished sample of the request as aborted (including samples never forked).
void EngineCore::end_request(RequestState& r, Status error) {
  for (auto& s : r.sequences) {
    if (s->finished) continue;
    scheduler_.remove(s.get());
    s->finished = true;
    r.stream->finish_sample(s->sample_index, FinishReason::kAbort, "");
  }
  const int32_t forked = (int32_t)r.sequences.size() - 1;
  for (int32_t i = 1 + forked; i < r.request.sampling.n; ++i)
    r.stream->finish_sample(i, FinishReason::kAbort, "");
  r.num_finished = r.request.sampling.n;
  finish_request(r, FinishReason::kAbort, std::move(error));
}

void EngineCore::abort(uint64_t id) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  end_request(*it->second, Status::Ok());
  it->second->stream->notify();
  requests_.erase(it);
  finished_ids_.clear();
  update_gauges();
}

void EngineCore::abort_all() {
  std::vector<uint64_t> ids;
  for (const auto& [id, r] : requests_) ids.push_back(id);
  for (uint64_t id : ids) abort(id);
}

void EngineCore::fork_samples(Sequence& parent, std::span<const float> logits) {
  RequestState& r = *parent.request;
  const int32_t num_forks = parent.forks_pending;
  for (int32_t k = 1; k <= num_forks; ++k) {
    if (r.num_finished == r.request.sampling.n) return;  // a sample's failure ended it
    auto child = std::make_unique<Sequence>();
    start_sequence(r, *child, (int32_t)r.sequences.size());
    child->tokens = parent.tokens;
    child->num_prompt_tokens = parent.num_prompt_tokens;
    child->num_computed = parent.num_computed;
    scheduler_.add_fork(&parent, child.get());
    Sequence& c = *child;
    r.sequences.push_back(std::move(child));
    fork_logits_.assign(logits.begin(), logits.end());
    sample_and_append(c, fork_logits_);
  }
}

bool EngineCore::apply_grammar(Sequence& s, std::span<float> logits) {
  if (!s.grammar_mask_ready) {
    const auto start = Clock::now();
    s.matcher->fill_mask(s.grammar_mask);
    stats_.grammar_mask_seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  s.grammar_mask_ready = false;
  const structured::TokenMask& mask = s.grammar_mask;
  if (mask.count() == 0) return false;
  const std::vector<uint64_t>& words = mask.words();
  const size_t n = logits.size();
  for (size_t w = 0; w < words.size(); ++w) {
    uint64_t refused = ~words[w];
    if (refused == 0) continue;
    const size_t base = w * 64;
    for (size_t i = base; i < std::min(base + 64, n); ++i, refused >>= 1)
      if (refused & 1) logits[i] = -INFINITY;
  }
  // min_tokens must not hold back the only tokens the grammar allows.
  std::sort(suppressed_.begin(), suppressed_.end());
  suppressed_.erase(std::unique(suppressed_.begin(), suppressed_.end()), suppressed_.end());
  int32_t allowed_but_suppressed = 0;
  for (int32_t t : suppressed_) allowed_but_suppressed += mask.test(t);
  if (mask.count() <= allowed_but_suppressed) suppressed_.clear();
  return true;
}

// The step's token masks, one task per constrained sequence on the backend's compute threads
// (idle until the next forward pass): a mask costs from microseconds to milliseconds, and a
// batch of constrained sequences would otherwise pay them one after another on this thread.
void EngineCore::compute_grammar_masks(const SchedulerStep& step) {
  grammar_seqs_.clear();
  for (const ScheduledChunk& c : step.chunks)
    if (c.needs_logits && c.seq->matcher && !c.seq->finished && !c.seq->grammar_mask_ready)
      grammar_seqs_.push_back(c.seq);
  fill_masks(grammar_seqs_, 2);
}

// Fills the masks of `seqs` on the compute threads when there are at least `min_parallel`
// of them (fewer are left to apply_grammar, on this thread).
void EngineCore::fill_masks(std::span<Sequence* const> seqs, size_t min_parallel) {
  ThreadPool* pool = backend_.compute_pool();
  if (seqs.size() < min_parallel) return;
  const auto start = Clock::now();
  auto fill = [&](int64_t i, int) {
    Sequence& s = *seqs[(size_t)i];
    s.matcher->fill_mask(s.grammar_mask);
    s.grammar_mask_ready = true;
  };
  if (pool && seqs.size() > 1) {
    pool->parallel_for((int64_t)seqs.size(), fill);
  } else {
    for (size_t i = 0; i < seqs.size(); ++i) fill((int64_t)i, 0);
  }
  stats_.grammar_mask_seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

void EngineCore::jump_forward() {
  std::vector<Sequence*> live;
  live.swap(sampled_constrained_);
  if (!config_.grammar_jump_forward) return;
  while (!live.empty()) {
    std::erase_if(live, [](const Sequence* s) { return s->finished; });
    fill_masks(live, 1);
    // A sequence whose next token is forced takes it now (append_token queues it again in
    // sampled_constrained_ unless it finished); the others keep their mask for the next step.
    for (Sequence* s : live) {
      if (s->finished || s->grammar_mask.count() != 1) continue;
      const auto& words = s->grammar_mask.words();
      size_t w = 0;
      while (words[w] == 0) ++w;
      const int32_t token = (int32_t)(w * 64 + (size_t)std::countr_zero(words[w]));
      s->grammar_mask_ready = false;
      ++stats_.grammar_forced_tokens;
      append_token(*s, s->sampler->forced(token));
    }
    live.clear();
    live.swap(sampled_constrained_);
  }
}

void EngineCore::collect_suppressed(const Sequence& s) {
  const SamplingParams& p = s.request->request.sampling;
  suppressed_.clear();
  // min_tokens holds back the end, except when the grammar allows nothing else.
  const bool grammar_must_end = s.matcher && s.matcher->must_end();
  if (s.num_generated() < p.min_tokens && !grammar_must_end) {
    suppressed_ = eos_ids_;
    suppressed_.insert(suppressed_.end(), p.stop_token_ids.begin(), p.stop_token_ids.end());
  }
}

void EngineCore::propose_drafts() {
  const SpeculativeConfig& sc = config_.speculative;
  if (!sc.enabled()) return;  // no sequence ever holds a draft
  const bool on = scheduler_.num_running() < sc.disable_by_batch_size;
  for (Sequence* s : scheduler_.running()) {
    s->draft.clear();
    // Only plain decodes: a grammar's mask at each guessed position would need the
    // matcher advanced through the guesses; forks wait for their first token.
    if (!on || s->num_remaining() != 1 || s->matcher || s->forks_pending > 0) continue;
    const SamplingParams& p = s->request->request.sampling;
    // Never propose past max_tokens or the model's length (the last token of a step is
    // sampled from the last guess's row, so k guesses can make k + 1 tokens).
    int32_t k = sc.num_speculative_tokens;
    if (p.max_tokens > 0) k = std::min(k, p.max_tokens - s->num_generated() - 1);
    k = std::min(k, max_model_len_ - (int32_t)s->tokens.size() - 1);
    if (k <= 0) continue;
    if (sc.method == SpeculativeConfig::Method::kDraft) {
      config_.draft_proposer->propose(s->seq_id, s->tokens, k, s->draft);
      // A guess outside the target's vocabulary (a draft with a longer padded one) ends the
      // draft there: the target has no logit row entry to check it against.
      auto bad = std::find_if(s->draft.begin(), s->draft.end(),
                              [&](int32_t t) { return t < 0 || t >= vocab_size_; });
      s->draft.erase(bad, s->draft.end());
    } else {
      propose_ngram(s->tokens, k, sc.prompt_lookup_min, sc.prompt_lookup_max, s->draft);
    }
  }
}

void EngineCore::verify_draft(Sequence& s, std::span<float> rows) {
  if (s.finished) {  // its request ended earlier in this step
    s.draft.clear();
    return;
  }
  const size_t vocab = (size_t)vocab_size_;
  const int32_t d = (int32_t)s.draft.size();
  int32_t accepted = 0;
  for (int32_t i = 0; i <= d && !s.finished; ++i) {
    std::span<float> logits = rows.subspan((size_t)i * vocab, vocab);
    collect_suppressed(s);
    if (i == d) {  // every guess held: the last row gives one more token
      append_token(s, s.sampler->sample(logits, suppressed_));
      break;
    }
    bool ok = false;
    const SampledToken t = s.sampler->verify(logits, suppressed_, s.draft[(size_t)i], ok);
    append_token(s, t);
    if (!ok) break;
    ++accepted;
    ++stats_.spec_accepted_per_position[(size_t)i];
  }
  ++stats_.spec_drafts;
  stats_.spec_draft_tokens += d;
  stats_.spec_accepted_tokens += accepted;
  s.draft.clear();
  if (s.finished) return;
  // The accepted guesses' K/V, computed at their positions, is the sequence's own now;
  // the rows of rejected ones are dropped, with any block that held only them.
  s.num_computed += accepted;
  kv_.commit(s.blocks, s.tokens, s.num_computed, s.request->cache_key);
  kv_.truncate(s.blocks, (int32_t)s.tokens.size());
}

void EngineCore::sample_and_append(Sequence& s, std::span<float> logits) {
  if (s.finished) return;  // its request ended earlier in this step
  RequestState& r = *s.request;
  collect_suppressed(s);
  if (s.matcher && !apply_grammar(s, logits)) {
    // Rare but possible: the grammar needs bytes no token of this vocabulary spells.
    end_request(r, Status::Error("structured output: no token of the model's vocabulary can "
                                 "continue the required format here"));
    r.notify_pending = true;
    return;
  }
  append_token(s, s.sampler->sample(logits, suppressed_));
}

void EngineCore::append_token(Sequence& s, const SampledToken& sampled) {
  RequestState& r = *s.request;
  const SamplingParams& p = r.request.sampling;
  const int32_t token = sampled.token;
  // The mask allowed it, so the matcher takes it.
  if (s.matcher) KILN_CHECK(s.matcher->accept_token(token));
  s.tokens.push_back(token);
  s.sampler->accept(token);
  ++stats_.generation_tokens;
  if (!r.has_first_token) {
    r.has_first_token = true;
    r.times.first_token = Clock::now();
  }
  const int32_t num_generated = s.num_generated();

  std::optional<FinishReason> finish;
  StopCause cause;
  bool stopped_by_string = false;
  std::string text;
  const bool listed_stop_token =
      std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), token) != p.stop_token_ids.end();
  // A grammar's end is final even with ignore_eos: nothing may follow a complete match.
  const bool grammar_ended = s.matcher && s.matcher->finished();
  if (listed_stop_token || grammar_ended || (!p.ignore_eos && is_eos(token))) {
    finish = FinishReason::kStop;
    if (listed_stop_token) cause.token = token;
  } else if (s.detokenizer) {
    text = s.detokenizer->push(token);
  }
  // Stop strings count only once min_tokens are out (vLLM's rule).
  if (!finish && s.stop_matcher && num_generated >= p.min_tokens) {
    StopMatcher::Result m = s.stop_matcher->push(text);
    text = std::move(m.emit);
    if (m.stopped) finish = FinishReason::kStop, stopped_by_string = true, cause.string = m.stop;
  }
  if (!finish && ((p.max_tokens > 0 && num_generated >= p.max_tokens) ||
                  (int32_t)s.tokens.size() >= max_model_len_))
    finish = FinishReason::kLength;
  if (finish && !stopped_by_string) {
    // The end: release what the detokenizer and the stop matcher held back.
    std::string tail = s.detokenizer ? s.detokenizer->flush() : std::string();
    if (s.stop_matcher) tail = s.stop_matcher->push(tail).emit + s.stop_matcher->flush();
    text += tail;
  }
  std::optional<SampledToken> logprob;
  if (p.logprobs >= 0) logprob = sampled;
  r.stream->append(s.sample_index, token, text, logprob, num_generated);
  r.notify_pending = true;
  if (finish) {
    finish_sequence(s, *finish, "", std::move(cause));
  } else if (s.matcher) {
    sampled_constrained_.push_back(&s);
  }
}

void EngineCore::fail_step(const SchedulerStep& step, const Status& error) {
  for (const ScheduledChunk& c : step.chunks) {
    RequestState& r = *c.seq->request;
    if (r.num_finished == r.request.sampling.n) continue;
    end_request(r, error);
    r.notify_pending = true;
  }
}

int32_t EngineCore::step() {
  propose_drafts();
  SchedulerStep st = scheduler_.schedule();
  stats_.num_preemptions += (int64_t)st.preempted.size();
  const Clock::time_point now = Clock::now();
  for (Sequence* s : st.admitted) {
    RequestState& r = *s->request;
    if (r.admitted) continue;
    r.admitted = true;
    r.times.first_scheduled = now;
    r.stream->set_prompt_info(s->num_prompt_tokens, s->num_computed);
  }
  if (st.empty()) {
    // Nothing runs and the first waiting request cannot start: it needs more KV than the
    // pool has free with nothing else holding any, so it never will.
    if (Sequence* head = scheduler_.first_waiting(); head && scheduler_.num_running() == 0) {
      end_request(*head->request,
                  Status::Error("request needs more KV cache blocks than the pool has"));
      head->request->notify_pending = true;
    }
  } else {
    run_step(st);
  }
  flush_outputs();
  update_gauges();
  publish_kv_events();
  return st.num_tokens;
}

void EngineCore::publish_kv_events() {
  if (!config_.kv_event_sink) return;
  std::vector<KvEvent> events = kv_.take_events();
  if (events.empty()) return;
  KvEventBatch batch;
  batch.timestamp =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  batch.block_size = kv_.block_size();
  batch.events = std::move(events);
  config_.kv_event_sink->publish(std::move(batch));
}

void EngineCore::run_step(const SchedulerStep& st) {
  token_ids_.clear();
  positions_.clear();
  slices_.clear();
  logit_rows_.clear();
  for (const ScheduledChunk& c : st.chunks) {
    const Sequence& s = *c.seq;
    SequenceSlice slice;
    slice.first_token = (int32_t)token_ids_.size();
    slice.num_tokens = c.num_tokens;
    slice.block_table = s.blocks.table;
    slices_.push_back(slice);
    const int32_t num_known = c.num_tokens - c.num_draft;
    for (int32_t i = 0; i < c.num_tokens; ++i) {
      token_ids_.push_back(i < num_known ? s.tokens[s.num_computed + i]
                                         : s.draft[(size_t)(i - num_known)]);
      positions_.push_back(s.num_computed + i);
    }
    // A draft needs the logits after its last known token and after each guess.
    if (c.needs_logits)
      for (int32_t i = c.num_draft; i >= 0; --i)
        logit_rows_.push_back((int32_t)token_ids_.size() - 1 - i);
  }
  ForwardBatch batch;
  batch.token_ids = token_ids_;
  batch.positions = positions_;
  batch.sequences = slices_;
  batch.logit_rows = logit_rows_;
  logits_.resize(logit_rows_.size() * (size_t)vocab_size_);
  const Clock::time_point forward_start = Clock::now();
  backend_.copy_blocks(st.copies);
  const Status status = backend_.forward(batch, logits_.data());
  if (!status.ok()) {
    fail_step(st, Status::Error("engine step failed: " + status.message()));
    return;
  }
  const double forward_seconds =
      std::chrono::duration<double>(Clock::now() - forward_start).count();

  int64_t step_prompt_tokens = 0;
  for (const ScheduledChunk& c : st.chunks) {
    const Sequence& s = *c.seq;
    const int32_t end = s.num_computed + c.num_tokens;
    step_prompt_tokens += std::max(
        0, std::min(s.num_prompt_tokens, end) - std::min(s.num_prompt_tokens, s.num_computed));
  }
  stats_.prompt_tokens_computed += step_prompt_tokens;
  StepTimes& kind = step_prompt_tokens > 0 ? stats_.prompt_steps : stats_.decode_steps;
  ++kind.steps;
  kind.tokens += st.num_tokens;
  kind.seconds += forward_seconds;
  scheduler_.complete(st);
  ++stats_.num_steps;
  stats_.num_batched_tokens += st.num_tokens;
  stats_.max_step_tokens = std::max(stats_.max_step_tokens, st.num_tokens);
  const int32_t bs = kv_.block_size();
  for (const Sequence* s : scheduler_.running()) {
    const int64_t held = (int64_t)s->blocks.table.size() * bs;
    stats_.kv_slots_held += held;
    stats_.kv_slots_unused += held - s->num_computed;
  }

  compute_grammar_masks(st);
  size_t row = 0;
  for (const ScheduledChunk& c : st.chunks) {
    if (!c.needs_logits) continue;
    Sequence& s = *c.seq;
    if (c.num_draft > 0) {
      const size_t rows = (size_t)c.num_draft + 1;
      verify_draft(s, std::span<float>(logits_.data() + row * (size_t)vocab_size_,
                                       rows * (size_t)vocab_size_));
      row += rows;
      continue;
    }
    std::span<float> logits(logits_.data() + row++ * (size_t)vocab_size_, (size_t)vocab_size_);
    if (s.forks_pending > 0) fork_samples(s, logits);
    sample_and_append(s, logits);
  }
  jump_forward();
}

void EngineCore::flush_outputs() {
  for (auto& [id, r] : requests_) {
    if (!r->notify_pending) continue;
    r->notify_pending = false;
    r->stream->notify();
  }
  for (uint64_t id : finished_ids_) requests_.erase(id);
  finished_ids_.clear();
}

void EngineCore::update_gauges() {
  stats_.num_running = scheduler_.num_running();
  stats_.num_waiting = scheduler_.num_waiting();
  stats_.kv_blocks_total = kv_.num_blocks();
  stats_.kv_blocks_used = kv_.num_used_blocks();
  stats_.prefix_queried_tokens = kv_.prefix_stats().queried_tokens;
  stats_.prefix_hit_tokens = kv_.prefix_stats().hit_tokens;
}

}  // namespace kiln
