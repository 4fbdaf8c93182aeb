// The sampling and stopping fields that OpenAI's chat and completions APIs share, with
// vLLM's extensions (top_k, min_p, repetition_penalty, min_tokens, stop_token_ids,
// ignore_eos, include_stop_str_in_output, skip_special_tokens, priority, cache_salt), read
// into the engine's GenerationRequest. Types are checked here; ranges are checked by
// SamplingParams::validate when the engine takes the request, so each has one definition.
#pragma once

#include "engine/request.h"
#include "server/json_fields.h"

namespace kiln::server {

struct OpenAISamplingDefaults {
  int32_t max_tokens = -1;  // -1: to the end of the context
};

// Reads everything but logprobs (whose shape differs between the two APIs), structured
// output (server/openai/structured_output.h) and the prompt. Fields that ask for something kiln
// does not do (beam search, best_of > n) are refused with a 400 rather than ignored.
void read_openai_sampling(FieldReader& fields, const OpenAISamplingDefaults& defaults,
                          GenerationRequest& request);

// `stop`: a string or an array of strings.
void read_stop_strings(FieldReader& fields, std::string_view key, std::vector<std::string>& out);

}  // namespace kiln::server
