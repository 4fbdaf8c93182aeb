#include "engine/engine.h"

namespace kiln {

Engine::Engine(ExecutionBackend& backend, const Tokenizer* tokenizer, const EngineConfig& config)
    : core_(backend, tokenizer, config), tokenizer_(tokenizer), stats_(core_.stats()) {
  thread_ = std::thread([this] { loop(); });
}

structured::GrammarCompilerStats Engine::grammar_compiler_stats() const {
  // Reading stats must not build the vocabulary's trie, so no call_once here.
  if (!grammar_created_.load(std::memory_order_acquire)) return {};
  return grammar_compiler_->stats();
}

structured::GrammarCompiler* Engine::grammar_compiler() const {
  if (!tokenizer_) return nullptr;
  // eos_ids() and vocab_size() are fixed at construction, so reading them here is safe.
  std::call_once(grammar_once_, [&] {
    grammar_compiler_ =
        std::make_unique<structured::GrammarCompiler>(structured::TokenVocabulary::from_tokenizer(
            *tokenizer_, core_.eos_ids(), (int32_t)core_.vocab_size()));
    grammar_created_.store(true, std::memory_order_release);
  });
  return grammar_compiler_.get();
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  thread_.join();
}

StatusOr<std::shared_ptr<RequestStream>> Engine::submit(GenerationRequest request) {
  std::vector<GenerationRequest> one;
  one.push_back(std::move(request));
  return std::move(submit_all(std::move(one)).front());
}

std::vector<StatusOr<std::shared_ptr<RequestStream>>> Engine::submit_all(
    std::vector<GenerationRequest> requests) {
  std::vector<StatusOr<std::shared_ptr<RequestStream>>> results;
  std::vector<Submission> valid;
  for (GenerationRequest& request : requests) {
    if (Status checked = core_.validate(request); !checked.ok()) {
      results.emplace_back(std::move(checked));
      continue;
    }
    const uint64_t id = next_id_++;
    auto stream = std::make_shared<RequestStream>(id, request.sampling.n);
    results.emplace_back(stream);
    valid.push_back({id, std::move(request), std::move(stream)});
  }
  {
    std::lock_guard lock(mu_);
    if (stop_) {
      for (auto& r : results)
        if (r.ok()) r = Status::Error("the engine is shutting down");
      return results;
    }
    for (Submission& s : valid) submissions_.push_back(std::move(s));
  }
  cv_.notify_all();
  return results;
}

void Engine::cancel(uint64_t request_id) {
  {
    std::lock_guard lock(mu_);
    cancellations_.push_back(request_id);
  }
  cv_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Engine::wait_until_idle() const {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] {
    return stop_ || (submissions_.empty() && stats_.num_running == 0 && stats_.num_waiting == 0);
  });
}

void Engine::loop() {
  std::vector<Submission> submissions;
  std::vector<uint64_t> cancellations;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return stop_ || !submissions_.empty() || !cancellations_.empty() || core_.has_work();
      });
      if (stop_) break;
      submissions.swap(submissions_);
      cancellations.swap(cancellations_);
    }
    for (Submission& s : submissions) core_.add_request(s.id, std::move(s.request), s.stream);
    for (uint64_t id : cancellations) core_.abort(id);
    submissions.clear();
    cancellations.clear();
    if (core_.has_work()) core_.step();
    {
      std::lock_guard lock(mu_);
      stats_ = core_.stats();
    }
    idle_cv_.notify_all();
  }
  // Requests submitted but never started end as aborted too.
  std::vector<Submission> left;
  {
    std::lock_guard lock(mu_);
    left.swap(submissions_);
  }
  for (Submission& s : left) core_.add_request(s.id, std::move(s.request), s.stream);
  core_.abort_all();
  {
    std::lock_guard lock(mu_);
    stats_ = core_.stats();
  }
  idle_cv_.notify_all();
}

}  // namespace kiln
