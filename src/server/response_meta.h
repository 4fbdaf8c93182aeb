// What every response object of a request repeats: its id, creation time and model name.
#pragma once

#include <cstdint>
#include <string>

#include "engine/request.h"
#include "server/generation_job.h"
#include "server/json_util.h"

namespace kiln::server {

struct ResponseMeta {
  std::string id;
  int64_t created = 0;  // Unix seconds
  std::string model;    // as the client named it
};

// OpenAI's finish_reason: "stop", "length", or vLLM's "abort" for a cancelled request.
inline const char* openai_finish_reason(FinishReason reason) { return finish_reason_name(reason); }

// vLLM's stop_reason beside finish_reason: the stop string or stop token id that ended the
// choice, null otherwise (an EOS token, the length limit, or not finished yet).
Json openai_stop_reason(const StopCause& cause);

// OpenAI's usage object, with prompt_tokens_details.cached_tokens.
Json openai_usage_json(const Usage& usage);

}  // namespace kiln::server
