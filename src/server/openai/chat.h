// POST /v1/chat/completions: the request's fields into a GenerationRequest (messages rendered
// through the model's chat template), and the formatters that give OpenAI's
// chat.completion object or its stream of chat.completion.chunk events.
#pragma once

#include <memory>
#include <string>

#include "engine/request.h"
#include "server/errors.h"
#include "server/generation_job.h"
#include "server/json_util.h"
#include "server/model_context.h"
#include "server/openai/tools.h"
#include "server/response_meta.h"

namespace kiln::server {

struct ChatCompletionRequest {
  std::string model;
  GenerationRequest generation;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  OpenAIToolSettings tools;
};

// 400 for a malformed or unsupported request, 404 for a model not served.
ApiResult<ChatCompletionRequest> parse_chat_completion_request(const Json& body,
                                                               const ModelContext& model);

std::unique_ptr<ResponseFormatter> make_chat_formatter(const ChatCompletionRequest& request,
                                                       const Tokenizer& tokenizer,
                                                       ResponseMeta meta);

}  // namespace kiln::server
