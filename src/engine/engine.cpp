#include "engine/engine.h"

namespace kiln {

Engine::Engine(ExecutionBackend& backend, const Tokenizer* tokenizer, const EngineConfig& config)
    : core_(backend, tokenizer, config), stats_(core_.stats()) {
  thread_ = std::thread([this] { loop(); });
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
  KILN_RETURN_IF_ERROR(core_.validate(request));
  const uint64_t id = next_id_++;
  auto stream = std::make_shared<RequestStream>(id, request.sampling.n);
  {
    std::lock_guard lock(mu_);
    if (stop_) return Status::Error("the engine is shutting down");
    submissions_.push_back({id, std::move(request), stream});
  }
  cv_.notify_all();
  return stream;
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
