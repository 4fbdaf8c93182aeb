#include "engine/request.h"

namespace kiln {

const char* finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
  }
  return "abort";
}

std::optional<RequestOutput> RequestStream::take_locked() {
  if (!dirty_) return std::nullopt;
  RequestOutput out = pending_;
  for (SampleOutput& s : pending_.samples) {
    s.token_ids.clear();
    s.text.clear();
    s.logprobs.clear();
    s.finish_reason.reset();  // reported once
    s.stop_cause = {};
  }
  dirty_ = false;
  if (done_) delivered_final_ = true;
  return out;
}

std::optional<RequestOutput> RequestStream::next() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return dirty_ || delivered_final_; });
  return take_locked();
}

std::optional<RequestOutput> RequestStream::try_next() {
  std::lock_guard lock(mu_);
  return take_locked();
}

void RequestStream::set_on_ready(std::function<void()> on_ready) {
  bool call_now;
  {
    std::lock_guard lock(mu_);
    on_ready_ = std::move(on_ready);
    call_now = dirty_;
  }
  if (call_now && on_ready_) on_ready_();
}

void RequestStream::append(int32_t sample, int32_t token, const std::string& text,
                           const std::optional<SampledToken>& logprob, int32_t num_generated) {
  std::lock_guard lock(mu_);
  SampleOutput& s = pending_.samples[sample];
  s.token_ids.push_back(token);
  s.text += text;
  if (logprob) s.logprobs.push_back(*logprob);
  s.num_generated = num_generated;
  dirty_ = true;
}

void RequestStream::finish_sample(int32_t sample, FinishReason reason, const std::string& text,
                                  StopCause cause) {
  std::lock_guard lock(mu_);
  SampleOutput& s = pending_.samples[sample];
  s.text += text;
  s.finish_reason = reason;
  s.stop_cause = std::move(cause);
  dirty_ = true;
}

void RequestStream::set_prompt_info(int32_t num_prompt_tokens, int32_t num_cached_tokens) {
  std::lock_guard lock(mu_);
  pending_.num_prompt_tokens = num_prompt_tokens;
  pending_.num_cached_tokens = num_cached_tokens;
}

void RequestStream::finish(const RequestTimes& times, Status error) {
  std::lock_guard lock(mu_);
  pending_.finished = true;
  pending_.times = times;
  pending_.error = std::move(error);
  done_ = dirty_ = true;
}

void RequestStream::notify() {
  std::function<void()> on_ready;
  {
    std::lock_guard lock(mu_);
    if (!dirty_) return;
    on_ready = on_ready_;
  }
  cv_.notify_all();
  if (on_ready) on_ready();
}

}  // namespace kiln
