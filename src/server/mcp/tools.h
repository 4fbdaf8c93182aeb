// The tools kiln offers over MCP, so that another agent can use the local model: `chat`,
// `complete`, `list_models`, `tokenize`. Their definitions (tools/list, with JSON Schemas
// for the arguments) and the checking of a tools/call's arguments. A generating call comes
// back as an engine request for the transport to run; the others are answered at once.
#pragma once

#include <optional>
#include <string>

#include "engine/request.h"
#include "server/json_util.h"
#include "server/model_context.h"

namespace kiln::server::mcp {

// The `tools` array of a tools/list result.
Json tool_definitions();

// A CallToolResult holding one text block. MCP reports a tool's own failure (bad arguments,
// a prompt too long) as a result with isError, so that the calling model can read it.
Json text_result(const std::string& text, bool is_error = false);

// What a tools/call becomes: a result now, or a generation to run.
struct ToolCall {
  std::optional<Json> result;
  std::optional<GenerationRequest> generation;
};

// nullopt: no tool has that name (a protocol error, not a tool result). `arguments` may be
// null (none given).
std::optional<ToolCall> prepare_tool_call(const ModelContext& model, const std::string& name,
                                          const Json& arguments);

}  // namespace kiln::server::mcp
