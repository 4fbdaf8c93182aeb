#include "engine/speculative.h"

#include <algorithm>

namespace kiln {

Status SpeculativeConfig::validate() const {
  if (method == Method::kNone) return Status::Ok();
  if (num_speculative_tokens < 1 || num_speculative_tokens > kMaxSpeculativeTokens)
    return Status::Error("num_speculative_tokens: " + std::to_string(num_speculative_tokens) +
                         " is out of range (1 to " + std::to_string(kMaxSpeculativeTokens) + ")");
  if (prompt_lookup_min < 1)
    return Status::Error("prompt_lookup_min: " + std::to_string(prompt_lookup_min) +
                         " must be at least 1");
  if (prompt_lookup_max < prompt_lookup_min || prompt_lookup_max > 64)
    return Status::Error("prompt_lookup_max: " + std::to_string(prompt_lookup_max) +
                         " must be between prompt_lookup_min and 64");
  if (method == Method::kDraft && draft_model.empty())
    return Status::Error("model: a draft model is required for method \"draft\"");
  if (method != Method::kDraft && !draft_model.empty())
    return Status::Error("model: a draft model is only used by method \"draft\"");
  if (disable_by_batch_size < 1)
    return Status::Error("disable_by_batch_size: " + std::to_string(disable_by_batch_size) +
                         " must be at least 1");
  return Status::Ok();
}

void propose_ngram(std::span<const int32_t> tokens, int32_t k, int32_t min_n, int32_t max_n,
                   std::vector<int32_t>& out) {
  out.clear();
  const int64_t len = (int64_t)tokens.size();
  for (int64_t n = std::min<int64_t>(max_n, len - 1); n >= min_n; --n) {
    const std::span<const int32_t> suffix = tokens.subspan((size_t)(len - n));
    // The most recent earlier match: its continuation is the likeliest to repeat (the
    // line being edited rather than the same words three paragraphs up).
    for (int64_t start = len - n - 1; start >= 0; --start) {
      if (!std::equal(suffix.begin(), suffix.end(), tokens.begin() + start)) continue;
      const int64_t from = start + n;
      const int64_t count = std::min<int64_t>(k, len - from);
      out.assign(tokens.begin() + from, tokens.begin() + from + count);
      return;
    }
  }
}

}  // namespace kiln
