// The ResponseJob behind every generating route: it owns the engine requests one HTTP
// request became (several for a /v1/completions batch of prompts), reads their streams when
// the engine signals new output, and hands each output to the route's ResponseFormatter,
// which turns it into SSE events or, at the end, one JSON body.
//
// Threads: the engine's thread only calls the wake function (which posts to the connection's
// strand); everything else runs on that strand, except cancel() and abort_for_shutdown(),
// which only ask the engine to cancel and may come from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/admission.h"
#include "server/errors.h"
#include "server/http/http_types.h"
#include "server/metrics.h"

namespace kiln::server {

// Turns engine outputs into an API's response body. Pure: no I/O, no engine calls, so each
// API's shapes are unit-tested by feeding it RequestOutputs.
class ResponseFormatter {
 public:
  virtual ~ResponseFormatter() = default;
  // New output of engine request `index` (everything since its previous output, merged).
  // Streaming formatters append SSE events; buffered ones keep what they need.
  virtual void on_output(size_t index, const RequestOutput& output, std::string& body) = 0;
  // Every engine request finished: the rest of the body (a buffered formatter's whole body).
  virtual void on_finished(std::string& body) = 0;
  // A stream that already sent its head failed part-way: the event telling the client.
  virtual void on_stream_error(const ApiError& error, std::string& body) = 0;
};

// One sample's output collected whole, for buffered replies.
struct CollectedSample {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<SampledToken> logprobs;
  std::optional<FinishReason> finish_reason;
  StopCause stop_cause;
};

struct CollectedOutput {
  std::vector<CollectedSample> samples;
  int32_t num_prompt_tokens = 0;
  int32_t num_cached_tokens = 0;
  void add(const RequestOutput& output);
};

// Token counts of a whole response, as the APIs' usage objects report them.
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens served from the prefix cache
  int64_t completion_tokens = 0;
};

class GenerationJob final : public ResponseJob {
 public:
  // `streams` were submitted to `engine` for this request; `ticket` holds their places in
  // the admission bound until the job ends. `hold` keeps the engine's model loaded (the
  // registry's lease) until after everything else here is gone.
  GenerationJob(Engine& engine, ServerMetrics& metrics,
                std::vector<std::shared_ptr<RequestStream>> streams,
                std::unique_ptr<ResponseFormatter> formatter, bool streaming, ApiFlavor flavor,
                Admission::Ticket ticket, std::shared_ptr<const void> hold = nullptr);
  // Cancels whatever still runs: a job dropped with its connection frees its KV blocks.
  ~GenerationJob() override;

  bool streaming() const override { return streaming_; }
  void start(std::function<void()> wake) override;
  bool poll(std::string& body) override;
  HttpReply reply() override;
  void cancel() override;
  std::string summary() const override;

  // The server is shutting down and the drain timeout passed: cancel, and end the response
  // with a 503 (or the stream's error event) instead of a truncated success.
  void abort_for_shutdown();

 private:
  struct Progress {
    bool finished = false;
    bool prompt_done = false;
    Clock::time_point last_token;  // when the previous output with tokens arrived
  };
  void record(Progress& p, const RequestOutput& out, Clock::time_point now);
  void finish(std::string& body);

  const std::shared_ptr<const void> hold_;  // first, so released last
  Engine& engine_;
  ServerMetrics& metrics_;
  const std::vector<std::shared_ptr<RequestStream>> streams_;
  std::unique_ptr<ResponseFormatter> formatter_;
  const bool streaming_;
  const ApiFlavor flavor_;
  Admission::Ticket ticket_;

  // Strand-only state.
  std::vector<Progress> progress_;
  size_t num_open_;
  bool done_ = false;
  std::optional<ApiError> error_;
  std::string body_;  // a buffered reply's body
  Usage usage_;

  std::atomic<bool> cancelled_{false};
  std::atomic<bool> shutdown_abort_{false};
};

}  // namespace kiln::server
