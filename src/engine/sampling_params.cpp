#include "engine/sampling_params.h"

#include <cmath>
#include <cstdio>
#include <type_traits>

namespace kiln {
namespace {

// NaN fails every comparison, so `!in(v, lo, hi)` rejects it too.
bool in(double v, double lo, double hi) { return lo <= v && v <= hi; }

// "<field> must be <what>, got <value>": the message starts with the field's name.
template <typename T>
Status bad(const std::string& field, const std::string& what, T got) {
  std::string got_text;
  if constexpr (std::is_floating_point_v<T>) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", (double)got);
    got_text = buf;
  } else {
    got_text = std::to_string(got);
  }
  return Status::Error(field + " must be " + what + ", got " + got_text);
}

}  // namespace

Status SamplingParams::validate(int64_t vocab_size) const {
  if (!(temperature >= 0.0f) || std::isinf(temperature))
    return bad("temperature", ">= 0", temperature);
  if (!(top_p > 0.0f && top_p <= 1.0f)) return bad("top_p", "in (0, 1]", top_p);
  if (top_k < -1) return bad("top_k", "-1 or 0 (off) or >= 1", top_k);
  if (!in(min_p, 0, 1)) return bad("min_p", "in [0, 1]", min_p);
  if (!in(presence_penalty, -2, 2)) return bad("presence_penalty", "in [-2, 2]", presence_penalty);
  if (!in(frequency_penalty, -2, 2))
    return bad("frequency_penalty", "in [-2, 2]", frequency_penalty);
  if (!(repetition_penalty > 0.0f) || std::isinf(repetition_penalty))
    return bad("repetition_penalty", "> 0", repetition_penalty);
  const std::string vocab = "a token id in [0, " + std::to_string(vocab_size) + ")";
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || id >= vocab_size) return bad("logit_bias", vocab, id);
    if (!in(bias, -100, 100)) return bad("logit_bias", "in [-100, 100]", bias);
  }
  if (n < 1 || n > kMaxN) return bad("n", "in [1, " + std::to_string(kMaxN) + "]", n);
  if (max_tokens != -1 && max_tokens < 1) return bad("max_tokens", ">= 1 (or unset)", max_tokens);
  if (min_tokens < 0) return bad("min_tokens", ">= 0", min_tokens);
  if (max_tokens != -1 && min_tokens > max_tokens)
    return bad("min_tokens", "<= max_tokens (" + std::to_string(max_tokens) + ")", min_tokens);
  if (stop.size() > kMaxStops)
    return bad("stop", "at most " + std::to_string(kMaxStops) + " strings", stop.size());
  for (const std::string& s : stop)
    if (s.empty()) return Status::Error("stop must not contain an empty string");
  for (int32_t id : stop_token_ids)
    if (id < 0 || id >= vocab_size) return bad("stop_token_ids", vocab, id);
  if (logprobs < -1 || logprobs > kMaxLogprobs)
    return bad("logprobs", "-1 (off) or in [0, " + std::to_string(kMaxLogprobs) + "]", logprobs);
  return Status::Ok();
}

}  // namespace kiln
