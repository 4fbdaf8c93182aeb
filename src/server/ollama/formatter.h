// Ollama's /api/chat and /api/generate answers: a stream of NDJSON objects (one per line,
// `done: false` while text arrives, then a final `done: true` object with the finish reason,
// the token counts and the durations in nanoseconds), or that final object alone, holding the
// whole text, when stream is false.
#pragma once

#include <memory>
#include <string>

#include "server/generation_job.h"
#include "server/ollama/request.h"

namespace kiln::server::ollama {

// When the request arrived and when its model was ready (later when it had to load): the
// answer's total_duration and load_duration.
struct OllamaTimes {
  Clock::time_point received, model_ready;
};

std::unique_ptr<ResponseFormatter> make_ollama_formatter(const OllamaRequest& request,
                                                         OllamaTimes times);

// The answer to a request that generates nothing: a load (done_reason "load"), an unload
// ("unload"), or num_predict 0 ("length").
Json ollama_empty_answer(const OllamaRequest& request, const std::string& done_reason,
                         OllamaTimes times);

// Ollama's created_at: the time now, RFC 3339 in UTC with nanoseconds.
std::string ollama_timestamp();

}  // namespace kiln::server::ollama
