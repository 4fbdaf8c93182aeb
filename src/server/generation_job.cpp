#include "server/generation_job.h"

#include <chrono>

namespace kiln::server {

void CollectedOutput::add(const RequestOutput& out) {
  if (samples.size() < out.samples.size()) samples.resize(out.samples.size());
  num_prompt_tokens = out.num_prompt_tokens;
  num_cached_tokens = out.num_cached_tokens;
  for (size_t i = 0; i < out.samples.size(); ++i) {
    const SampleOutput& s = out.samples[i];
    CollectedSample& c = samples[i];
    c.text += s.text;
    c.token_ids.insert(c.token_ids.end(), s.token_ids.begin(), s.token_ids.end());
    c.logprobs.insert(c.logprobs.end(), s.logprobs.begin(), s.logprobs.end());
    if (s.finish_reason) c.finish_reason = s.finish_reason, c.stop_cause = s.stop_cause;
  }
}

GenerationJob::GenerationJob(Engine& engine, ServerMetrics& metrics,
                             std::vector<std::shared_ptr<RequestStream>> streams,
                             std::unique_ptr<ResponseFormatter> formatter, bool streaming,
                             ApiFlavor flavor, Admission::Ticket ticket,
                             std::shared_ptr<const void> hold)
    : hold_(std::move(hold)),
      engine_(engine),
      metrics_(metrics),
      streams_(std::move(streams)),
      formatter_(std::move(formatter)),
      streaming_(streaming),
      flavor_(flavor),
      ticket_(std::move(ticket)),
      progress_(streams_.size()),
      num_open_(streams_.size()) {}

GenerationJob::~GenerationJob() {
  for (size_t i = 0; i < streams_.size(); ++i) {
    // Drop the wake function first: it refers to a connection that may be gone.
    streams_[i]->set_on_ready(nullptr);
    if (!progress_[i].finished) engine_.cancel(streams_[i]->id());
  }
}

void GenerationJob::start(std::function<void()> wake) {
  for (const auto& stream : streams_) stream->set_on_ready(wake);
}

void GenerationJob::cancel() {
  if (cancelled_.exchange(true)) return;
  for (const auto& stream : streams_) engine_.cancel(stream->id());
}

void GenerationJob::abort_for_shutdown() {
  shutdown_abort_ = true;
  cancel();
}

void GenerationJob::record(Progress& p, const RequestOutput& out, Clock::time_point now) {
  int64_t new_tokens = 0;
  for (const SampleOutput& s : out.samples) new_tokens += (int64_t)s.token_ids.size();
  usage_.completion_tokens += new_tokens;
  if (new_tokens > 0) {
    if (!p.prompt_done) {
      p.prompt_done = true;
      metrics_.on_prompt_done(out.num_prompt_tokens);
      usage_.prompt_tokens += out.num_prompt_tokens;
      usage_.cached_tokens += out.num_cached_tokens;
    } else {
      const double gap = std::chrono::duration<double>(now - p.last_token).count();
      metrics_.on_inter_token(gap / (double)new_tokens, new_tokens);
    }
    p.last_token = now;
  }
  if (!out.finished) return;
  p.finished = true;
  --num_open_;
  if (!p.prompt_done) {  // ended before any token (aborted, failed)
    usage_.prompt_tokens += out.num_prompt_tokens;
    usage_.cached_tokens += out.num_cached_tokens;
  }
  if (!out.error.ok()) {
    if (!error_) error_ = ApiError::internal(out.error.message());
    return;
  }
  bool aborted = false;
  int32_t num_generated = 0;
  for (const SampleOutput& s : out.samples)
    num_generated = std::max(num_generated, s.num_generated);
  for (const SampleOutput& s : out.samples) aborted |= s.finish_reason == FinishReason::kAbort;
  if (!aborted) metrics_.on_request_finished(out.times, out.num_prompt_tokens, num_generated);
}

bool GenerationJob::poll(std::string& body) {
  if (done_) return true;
  const Clock::time_point now = Clock::now();
  for (size_t i = 0; i < streams_.size(); ++i) {
    Progress& p = progress_[i];
    while (!p.finished) {
      std::optional<RequestOutput> out = streams_[i]->try_next();
      if (!out) break;
      record(p, *out, now);
      formatter_->on_output(i, *out, streaming_ ? body : body_);
    }
  }
  if (num_open_ > 0) return false;
  finish(body);
  return true;
}

void GenerationJob::finish(std::string& body) {
  done_ = true;
  ticket_.release();
  if (!error_ && shutdown_abort_)
    error_ = ApiError::unavailable("the server is shutting down; the request was cancelled");
  if (error_) {
    if (streaming_) formatter_->on_stream_error(*error_, body);
    return;
  }
  formatter_->on_finished(streaming_ ? body : body_);
}

HttpReply GenerationJob::reply() {
  HttpReply r;
  if (streaming_) {
    // Ollama streams NDJSON, one object per line; the others stream server-sent events.
    r.content_type = flavor_ == ApiFlavor::kOllama ? "application/x-ndjson" : "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  }
  if (error_) return error_reply(*error_, flavor_);
  r.body = std::move(body_);
  return r;
}

std::string GenerationJob::summary() const {
  std::string s = "prompt=" + std::to_string(usage_.prompt_tokens) +
                  " cached=" + std::to_string(usage_.cached_tokens) +
                  " completion=" + std::to_string(usage_.completion_tokens);
  if (error_)
    s += " error=\"" + error_->message + "\"";
  else if (cancelled_)
    s += " cancelled";
  return s;
}

}  // namespace kiln::server
