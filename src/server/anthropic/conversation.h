// Anthropic's `system` and `messages` as the chat template's messages, in the OpenAI shape
// that chat templates are written for (chat_prompt.h):
//   - text blocks are joined with "\n" into the message's content;
//   - an assistant message's tool_use blocks {id, name, input} become its `tool_calls`
//     [{id, type: "function", function: {name, arguments: input}}] (arguments an object,
//     as templates render them with tojson), beside the text;
//   - a user message's tool_result blocks {tool_use_id, content, is_error} become role
//     "tool" messages {tool_call_id, content} in the order written, the user's text blocks
//     around them staying user messages. The result's content is a string or text blocks;
//     is_error is accepted but templates have no place for it, so the model sees the
//     content only (which names the error in practice).
// Other block types (images, documents, thinking) are 400s naming the block. A final
// assistant message is a prefill continued by the answer, so it may hold text only.
#pragma once

#include "server/errors.h"
#include "server/json_util.h"

namespace kiln::server {

// `system` may be null (not given).
ApiResult<Json> anthropic_template_messages(const Json* system, const Json& messages);

}  // namespace kiln::server
