// MCP tools in /v1/responses, the request side: {"type": "mcp", "server_label",
// "server_url", "headers", "authorization", "allowed_tools", "require_approval": "never"}
// tools, the servers of `kiln serve --mcp-config`, and the plan the tool loop
// (tool_loop.h) follows: once the servers have listed their tools, each turn's tool
// constraint and prompt are built from it.
//
// Rules kiln applies (and docs/api.md states):
//   - require_approval must be "never": kiln has no approval flow, and OpenAI's default is
//     "always", so a request that leaves it out is refused rather than run unapproved.
//   - The configured servers are offered to every request that can take tools: not with
//     tool_choice "none", not with a text.format constraint (one grammar per sequence). A
//     request's own mcp tool with a text.format constraint is a 400 naming "tools".
//   - A request's mcp tool without server_url names a configured server by its label; its
//     allowed_tools then filter that server's tools.
//   - tool_choice {"type": "mcp", "server_label", "name"} forces that tool on the first turn;
//     "required" likewise forces some call on the first turn only. Later turns are "auto",
//     so the model can answer with what the tool returned.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mcp_client/config.h"
#include "mcp_client/server_pool.h"
#include "server/errors.h"
#include "server/json_util.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::server {

struct McpOptions {
  std::shared_ptr<mcp_client::ServerPool> pool;  // --mcp-config's servers; null: none
  double timeout_seconds = 60;             // --mcp-timeout: each request to a server
  int max_tool_turns = 8;                  // --max-tool-turns: rounds of tool calls
};

// A server whose tools a response offers.
struct McpServerRef {
  std::string label;
  std::optional<mcp_client::McpServerConfig> own;  // a request's server_url; nullopt: the pool's
  std::optional<std::vector<std::string>> allowed_tools;  // nullopt: all
};

// What each turn is built from.
struct ToolLoopPlan {
  std::vector<McpServerRef> servers;
  std::vector<tool_calls::ToolDefinition> function_tools;  // the client's own tools
  Json function_template_tools = Json::array();            // the same in chat's shape
  tool_calls::ToolChoice first_choice;                     // the first turn's
  std::optional<std::string> choice_server;  // tool_choice {"type": "mcp"}: its server_label
  bool parallel_tool_calls = true;
  tool_calls::ToolCallFormat format = tool_calls::ToolCallFormat::kHermes;
  std::optional<std::string> instructions;
  Json conversation = Json::array();  // what the first turn continues: previous, then input
};

// tools[i] of type "mcp"; `at` is "tools[i]".
ApiResult<McpServerRef> read_mcp_tool(const Json& tool, const std::string& at,
                                      const McpOptions& options);

// One MCP tool as the model sees it.
struct OfferedMcpTool {
  std::string server_label;
  mcp_client::McpTool tool;
};

}  // namespace kiln::server
