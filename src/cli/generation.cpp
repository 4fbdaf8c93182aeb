#include "cli/generation.h"

#include <chrono>
#include <cstdio>

namespace kiln::cli {

StatusOr<GenerationResult> stream_generation(Session& session, Sampler& sampler,
                                             const Tokenizer& tokenizer, int max_tokens,
                                             const std::atomic<bool>* stop) {
  GenerationResult result;
  IncrementalDecoder decoder(tokenizer, /*skip_special=*/true);
  auto emit = [&](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    result.text += text;
  };
  const auto start = std::chrono::steady_clock::now();
  while (result.num_tokens < max_tokens && session.num_tokens() < session.max_tokens()) {
    if (stop && stop->load()) {
      result.interrupted = true;
      break;
    }
    const int32_t next = sampler.sample(session.last_logits());
    ++result.num_tokens;
    if (tokenizer.is_end_of_generation(next)) break;
    emit(decoder.push(next));
    if (Status s = session.append(std::span<const int32_t>(&next, 1)); !s.ok()) return s;
    result.token_ids.push_back(next);
  }
  emit(decoder.flush());
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace kiln::cli
