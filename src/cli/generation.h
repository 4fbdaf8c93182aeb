// The token loop shared by `kiln run` and `kiln run --chat`: sample, stream the text to
// stdout as it becomes complete UTF-8, stop at an end-of-generation token, the token limit,
// the context's end or when asked to stop (Ctrl-C).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "tokenizer/tokenizer.h"
#include "util/status.h"

namespace kiln::cli {

struct GenerationResult {
  std::string text;         // everything streamed
  std::vector<int32_t> token_ids;  // the tokens appended to the session
  int num_tokens = 0;       // tokens sampled (including a final end-of-generation token)
  double seconds = 0;
  bool interrupted = false;
};

// Precondition: session.last_logits() holds the logits after the prompt.
// The sampled tokens (but not a final end-of-generation token) are appended to session.
StatusOr<GenerationResult> stream_generation(Session& session, Sampler& sampler,
                                             const Tokenizer& tokenizer, int max_tokens,
                                             const std::atomic<bool>* stop);

}  // namespace kiln::cli
