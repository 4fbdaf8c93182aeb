// POST /tokenize and POST /detokenize, in vLLM's shapes: a prompt (or chat messages, rendered
// through the chat template) to token ids, and token ids back to text.
#pragma once

#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server {

// {"prompt": str, "add_special_tokens"?: bool=true} or {"messages": [...],
// "add_generation_prompt"?: bool=true, "continue_final_message"?, "chat_template_kwargs"?,
// "tools"?}, each with an optional "model" and "return_token_strs"?: bool ->
// {"count", "max_model_len", "tokens", "token_strs"}.
ApiResult<Json> tokenize(const Json& body, const ModelContext& model);
// {"tokens": [ids], "model"?} -> {"prompt": text}.
ApiResult<Json> detokenize(const Json& body, const ModelContext& model);

}  // namespace kiln::server
