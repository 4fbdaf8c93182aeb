// POST /v1/chat/completions/render and /v1/completions/render (vLLM's render routes): the
// prompt a request would run on, as text and token ids, without generating. Routers call
// them on every worker before choosing one (vllm-router's cache_aware matches the ids
// against what it sent each worker before). They go through the same parsers as generation,
// so the ids are exactly the ones generation would compute; a request generation would
// refuse is refused here with the same error.
#pragma once

#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server::router {

// One object: {"request_id", "model", "prompt", "token_ids", "cache_salt", "priority"}.
ApiResult<Json> render_chat_completion(const Json& body, const ModelContext& model);
// An array with one such object per prompt, in the order given.
ApiResult<Json> render_completion(const Json& body, const ModelContext& model);

}  // namespace kiln::server::router
