#include "cli/generation.h"

#include <chrono>
#include <cstdio>

namespace kiln::cli {

StatusOr<GenerationResult> stream_generation(Engine& engine, GenerationRequest request,
                                             const std::atomic<bool>* stop) {
  auto stream = engine.submit(std::move(request));
  if (!stream.ok()) return stream.status();
  GenerationResult result;
  bool cancelled = false;
  // Tokens arrive every few milliseconds, so checking `stop` between reads is prompt enough.
  while (auto out = (*stream)->next()) {
    const SampleOutput& s = out->samples[0];
    std::fwrite(s.text.data(), 1, s.text.size(), stdout);
    std::fflush(stdout);
    result.text += s.text;
    result.token_ids.insert(result.token_ids.end(), s.token_ids.begin(), s.token_ids.end());
    if (s.finish_reason == FinishReason::kAbort) result.interrupted = true;
    if (out->finished) {
      if (!out->error.ok()) return out->error;
      using Seconds = std::chrono::duration<double>;
      const RequestTimes& t = out->times;
      result.num_prompt_tokens = out->num_prompt_tokens;
      result.num_cached_tokens = out->num_cached_tokens;
      if (!result.token_ids.empty()) {
        result.prompt_seconds = Seconds(t.first_token - t.first_scheduled).count();
        result.generation_seconds = Seconds(t.finished - t.first_token).count();
      }
    }
    if (!cancelled && stop && stop->load()) {
      engine.cancel((*stream)->id());
      cancelled = true;
    }
  }
  return result;
}

}  // namespace kiln::cli
