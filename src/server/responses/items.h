// The Responses API's conversation items, in and out of the chat template:
//   - `input` (a string, or a list of items) checked and brought to one stored form: a
//     string becomes a user message item; every item gets its `type` ("message" when only a
//     role is given). Accepted items: messages (role user, system, developer or assistant;
//     content a string or input_text / output_text parts), function_call {call_id, name,
//     arguments} and function_call_output {call_id, output}. Other item and part types
//     (images, files, reasoning, item references, built-in tool calls) are 400s naming the
//     item, since kiln serves text-only models and runs function tools only.
//   - a conversation (the stored items of previous turns, then this request's) as chat
//     messages in the OpenAI chat shape that templates are written for: text parts joined
//     with "\n"; function_call items become the `tool_calls` of an assistant message (the
//     one right before them, when there is one: a turn's text and its calls are one message),
//     function_call_output items become role "tool" messages. `instructions` is a system
//     message in front; it belongs to one request and is never stored (OpenAI's rule: a
//     previous response's instructions do not carry over).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server {

// `input` as stored items; a 400 naming input[i]... for a malformed or unsupported item.
ApiResult<Json> normalize_responses_input(const Json& input);

// The conversation's prompt tokens through the model's chat template. `template_tools` is the
// tools in the chat shape (null: none). This is one turn's prompt: a server-side tool loop
// would call it again with the calls and their outputs appended.
ApiResult<std::vector<int32_t>> render_responses_prompt(
    const ModelContext& model, const std::optional<std::string>& instructions,
    const Json& conversation, const Json& template_tools);

// The chat messages alone (for tests and for render_responses_prompt).
ApiResult<Json> responses_template_messages(const std::optional<std::string>& instructions,
                                            const Json& conversation);

}  // namespace kiln::server
