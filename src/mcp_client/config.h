// The MCP servers kiln connects to, from the file MCP clients commonly share (Claude
// Desktop, Cursor, VS Code):
//   {"mcpServers": {"NAME": {"command": "...", "args": [...], "env": {...}},
//                   "NAME": {"url": "http://...", "headers": {...}}}}
// A server is stdio (command) or streamable HTTP (url), never both. "type" is accepted when
// it agrees ("stdio"; "http" or "streamable-http"); SSE-only servers (the transport MCP
// deprecated in 2025-03-26) are refused. Unknown keys are ignored, as other clients do.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mcp_client/stdio_transport.h"

namespace kiln::mcp_client {

struct McpServerConfig {
  std::string name;
  StdioCommand stdio;  // when stdio.command is set
  std::string url;     // when set: streamable HTTP
  std::map<std::string, std::string> headers;
  bool is_stdio() const { return url.empty(); }
};

// `source` names the file in errors: "FILE: mcpServers.NAME.args must be an array of strings".
StatusOr<std::vector<McpServerConfig>> parse_mcp_config(const std::string& text,
                                                        const std::string& source);
StatusOr<std::vector<McpServerConfig>> read_mcp_config_file(const std::string& path);

// A transport for the server (spawning a stdio server's process).
StatusOr<std::unique_ptr<Transport>> open_transport(const McpServerConfig& config);

}  // namespace kiln::mcp_client
