// What a caller hands the engine and what it gets back: a request of prompt token ids
// with sampling parameters and stop rules, and a stream of outputs that the engine fills
// as tokens are generated. These types are the engine API shared by the server, the
// CLI, the benchmarks and the tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"
#include "util/status.h"

namespace kiln::structured {
class CompiledGrammar;
}

namespace kiln {

using Clock = std::chrono::steady_clock;

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, already templated and tokenized
  SamplingParams sampling;
  int32_t priority = 0;    // lower runs first (vLLM's convention); FCFS among equals
  std::string cache_salt;  // requests with different salts never share cached KV
  // Structured output: every sample's text is constrained to this grammar (tokens it does
  // not allow are never sampled; they get -inf and never appear in logprobs). Compiled
  // for this engine's vocabulary (Engine::grammar_compiler()).
  std::shared_ptr<const structured::CompiledGrammar> grammar;
};

enum class FinishReason { kStop, kLength, kAbort };
const char* finish_reason_name(FinishReason reason);  // "stop", "length", "abort"

// One sample's new output since the previous read (or, in a final read, all remaining).
// What ended a sample with FinishReason::kStop, reported as vLLM's `stop_reason`: the stop
// string that matched, or the token of stop_token_ids that was sampled; neither when an EOS
// token ended it.
struct StopCause {
  std::optional<std::string> string;
  std::optional<int32_t> token;
};

struct SampleOutput {
  std::vector<int32_t> token_ids;
  std::string text;                    // detokenized, stop strings removed
  std::vector<SampledToken> logprobs;  // one per token when logprobs >= 0
  std::optional<FinishReason> finish_reason;
  StopCause stop_cause;       // set with finish_reason
  int32_t num_generated = 0;  // tokens generated so far in total
};

struct RequestTimes {
  Clock::time_point arrival, first_scheduled, first_token, finished;
};

struct RequestOutput {
  std::vector<SampleOutput> samples;  // index i is sample i of n
  bool finished = false;              // every sample has a finish reason
  Status error;                       // an engine failure ended the request
  int32_t num_prompt_tokens = 0;
  int32_t num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  RequestTimes times;             // complete once finished
};

// The engine writes, one consumer reads. Thread-safe. Outputs merge while unread, so a
// slow reader costs memory only for the text it has not read yet, and the engine never
// waits for it.
class RequestStream {
 public:
  RequestStream(uint64_t id, int32_t n) : id_(id) { pending_.samples.resize(n); }
  uint64_t id() const { return id_; }

  // Blocks until there is new output; everything since the last read, merged. nullopt
  // once the finished output has been read.
  std::optional<RequestOutput> next();
  // Like next() without waiting: nullopt when nothing new is there.
  std::optional<RequestOutput> try_next();
  // Called on the engine's thread after new output arrives; it must only schedule work
  // (e.g. post to an event loop), never block or call back into the engine.
  void set_on_ready(std::function<void()> on_ready);

  // Engine side.
  void append(int32_t sample, int32_t token, const std::string& text,
              const std::optional<SampledToken>& logprob, int32_t num_generated);
  void finish_sample(int32_t sample, FinishReason reason, const std::string& text,
                     StopCause cause = {});
  void set_prompt_info(int32_t num_prompt_tokens, int32_t num_cached_tokens);
  void finish(const RequestTimes& times, Status error);
  void notify();

 private:
  std::optional<RequestOutput> take_locked();

  const uint64_t id_;
  std::mutex mu_;
  std::condition_variable cv_;
  RequestOutput pending_;
  bool dirty_ = false, done_ = false, delivered_final_ = false;
  std::function<void()> on_ready_;
};

}  // namespace kiln
