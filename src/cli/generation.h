// The token loop shared by `kiln run` and `kiln run --chat`, on the engine: submit one
// request, stream its text to stdout as it arrives, and cancel it when asked to stop
// (Ctrl-C).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "util/status.h"

namespace kiln::cli {

struct GenerationResult {
  std::string text;                // everything streamed
  std::vector<int32_t> token_ids;  // generated, including a final end-of-generation token
  int32_t num_prompt_tokens = 0;
  int32_t num_cached_tokens = 0;   // prompt tokens the prefix cache supplied
  double prompt_seconds = 0;       // scheduled -> first token
  double generation_seconds = 0;   // first token -> finished
  bool interrupted = false;
};

// Errors are the request's validation failures (prompt too long, ...) or an engine failure.
StatusOr<GenerationResult> stream_generation(Engine& engine, GenerationRequest request,
                                             const std::atomic<bool>* stop);

}  // namespace kiln::cli
