// POST /v1/messages and /v1/messages/count_tokens in Anthropic's Messages format: system,
// messages of text, tool_use and tool_result blocks (conversation.h), max_tokens,
// stop_sequences, temperature/top_p/top_k, client tools and tool_choice (tools.h),
// JSON outputs (output_config.format), stream with Anthropic's event sequence
// (message_start, content_block_start, ping, content_block_delta..., content_block_stop,
// message_delta, message_stop) and usage. A final assistant message is a prefill: the answer
// continues it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/request.h"
#include "server/errors.h"
#include "server/generation_job.h"
#include "server/json_util.h"
#include "server/model_context.h"
#include "server/response_meta.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::server {

struct MessagesRequest {
  std::string model;
  GenerationRequest generation;
  std::vector<std::string> stop_sequences;
  bool stream = false;
  // The format tool calls are parsed out of the output in; nullopt: the output is all text
  // (no tools, or tool_choice "none").
  std::optional<tool_calls::ToolCallFormat> tool_format;
};

// for_count_tokens: /v1/messages/count_tokens, where max_tokens and sampling are not asked.
ApiResult<MessagesRequest> parse_messages_request(const Json& body, const ModelContext& model,
                                                  bool for_count_tokens);

std::unique_ptr<ResponseFormatter> make_messages_formatter(const MessagesRequest& request,
                                                           ResponseMeta meta);

}  // namespace kiln::server
