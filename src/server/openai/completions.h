// POST /v1/completions: one or more prompts (a string, strings, token ids, or lists of token
// ids), each an engine request with n samples, answered as OpenAI's text_completion object
// or its stream. Choice index = prompt index * n + sample index, as OpenAI numbers them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/errors.h"
#include "server/generation_job.h"
#include "server/json_util.h"
#include "server/model_context.h"
#include "server/response_meta.h"

namespace kiln::server {

struct CompletionRequest {
  std::string model;
  std::vector<GenerationRequest> generations;  // one per prompt
  bool stream = false;
  bool include_usage = false;
  int32_t logprobs = -1;  // -1: off
};

// OpenAI's default max_tokens for completions (the chat API's default is the context's end).
inline constexpr int32_t kCompletionsDefaultMaxTokens = 16;

ApiResult<CompletionRequest> parse_completion_request(const Json& body, const ModelContext& model);

std::unique_ptr<ResponseFormatter> make_completion_formatter(const CompletionRequest& request,
                                                             const Tokenizer& tokenizer,
                                                             ResponseMeta meta);

}  // namespace kiln::server
