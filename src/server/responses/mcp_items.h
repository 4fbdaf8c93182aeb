// The Responses API's MCP output items, as OpenAI's API writes them:
//   mcp_list_tools {id "mcpl_...", server_label, tools: [{name, description, input_schema,
//                   annotations}], error: null | "why the listing failed"}
//   mcp_call       {id "mcp_...", server_label, name, arguments (a JSON string), output (the
//                   tool's text, or null), error (null, or one of {"type":
//                   "mcp_protocol_error", code, message} | {"type":
//                   "mcp_tool_execution_error", content} | {"type": "http_error", code,
//                   message}), status "completed" | "failed" | "incomplete"}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mcp_client/client.h"
#include "server/json_util.h"

namespace kiln::server {

Json mcp_list_tools_item(const std::string& server_label,
                         const std::vector<mcp_client::McpTool>& tools,
                         const std::optional<std::string>& error);

// How one call ended: the tool's result, or the client's error message.
struct McpCallOutcome {
  std::optional<mcp_client::ToolResult> result;
  std::string error;  // when there is no result
};

Json mcp_call_item(const std::string& id, const std::string& server_label,
                   const std::string& name, const std::string& arguments,
                   const McpCallOutcome& outcome);

// The error object for a client error message: "error CODE: ..." (a JSON-RPC error) is a
// protocol error with that code, "HTTP CODE..." an http_error, a timeout the SDK's
// request-timeout code -32001, anything else (the server exited, a malformed reply) -32000.
Json mcp_error_json(const std::string& message);

// What the model reads as the call's result in the next turn.
std::string mcp_outcome_text(const McpCallOutcome& outcome);

// A tool in the chat template's shape {"type": "function", "function": {name, description,
// parameters}}.
Json mcp_template_tool(const mcp_client::McpTool& tool);

}  // namespace kiln::server
