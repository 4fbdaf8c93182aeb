// POST /v1/responses: the request body read into one turn of generation (a GenerationRequest
// over the rendered conversation) plus what the response object echoes and what the store
// needs to continue the conversation later.
//
// Fields: model; input (items.h); instructions; previous_response_id (the stored
// conversation continued; a dropped or unknown id is a 404); tools (function tools in the
// Responses shape, flat: {"type": "function", "name", "description", "parameters",
// "strict"}); tool_choice ("none" | "auto" | "required" | {"type": "function", "name"});
// parallel_tool_calls; max_output_tokens; temperature; top_p; text.format ({"type": "text"}
// | {"type": "json_object"} | {"type": "json_schema", "name", "schema", "strict"}), through
// the same structured-output core as chat's response_format; store; stream; metadata;
// user. As on the other routes, a field kiln does not know is ignored, and one that asks
// for something kiln does not do is a 400 naming it: background mode, a stored prompt
// template (`prompt`), a server-side `conversation`, tool types other than function and
// mcp (mcp_tools.h).
#pragma once

#include <optional>
#include <string>

#include "engine/request.h"
#include "server/errors.h"
#include "server/json_util.h"
#include "server/model_context.h"
#include "server/responses/mcp_tools.h"
#include "server/responses/store.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::server {

struct ResponsesRequest {
  std::string model;
  GenerationRequest generation;
  bool stream = false;
  bool store = true;
  // The format calls are parsed out of the output in; nullopt: the output is all text.
  std::optional<tool_calls::ToolCallFormat> tool_format;
  // The request's settings as the Response object repeats them (instructions, tools,
  // tool_choice, text, temperature, top_p, max_output_tokens, parallel_tool_calls,
  // previous_response_id, store, metadata, user), defaults filled in.
  Json echo = Json::object();
  // What this turn continues (null: a new conversation) and this request's input items:
  // together the conversation the prompt was rendered from.
  ConversationPtr previous;
  Json input_items = Json::array();
  // Set when MCP servers' tools are offered: the tool loop (tool_loop.h) lists them, then
  // builds each turn's prompt and constraint; `generation` then has neither yet.
  std::optional<ToolLoopPlan> tool_loop;
};

// 400 for a malformed or unsupported request, 404 for a model not served or a
// previous_response_id not (or no longer) stored.
ApiResult<ResponsesRequest> parse_responses_request(const Json& body, const ModelContext& model,
                                                    ResponseStore& store,
                                                    const McpOptions& mcp = {});

}  // namespace kiln::server
