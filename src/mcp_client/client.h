// An MCP client session over a Transport: the handshake (initialize, answered with the
// server's version and capabilities, then notifications/initialized), tools/list (following
// nextCursor through every page) and tools/call. The protocol version asked for is the
// newest kiln speaks (2025-11-25, as the `mcp` SDK 2.3 does); a server may answer with any
// version kiln knows, and one kiln does not know ends the connection with an error.
//
// A tool's result is read into text for the model: its text content joined, other content
// named by type, structuredContent when there is no text. A result that is not the spec's
// CallToolResult shape is an error naming what is wrong.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mcp_client/transport.h"

namespace kiln::mcp_client {

inline constexpr const char* kClientProtocolVersion = "2025-11-25";

struct McpTool {
  std::string name;
  std::string description;
  Json input_schema = Json::object();  // inputSchema: a JSON Schema of the arguments
};

struct ToolResult {
  bool is_error = false;  // the tool ran and reported an error (isError)
  std::string text;
};

// Reads a tools/call result (exposed for tests).
StatusOr<ToolResult> read_tool_result(const Json& result);
// Reads one tools/list page's tools (exposed for tests).
StatusOr<std::vector<McpTool>> read_tool_list(const Json& result);

class McpClient {
 public:
  // Runs the handshake within `timeout_seconds`.
  static StatusOr<std::unique_ptr<McpClient>> connect(std::unique_ptr<Transport> transport,
                                                      double timeout_seconds,
                                                      const std::atomic<bool>* cancel);

  // Every tool, all pages; listed once per connection and kept (kiln does not follow
  // notifications/tools/list_changed).
  StatusOr<std::vector<McpTool>> tools(const std::atomic<bool>* cancel);
  // Errors: no answer within the timeout, the server gone, a JSON-RPC error (an unknown
  // tool, bad arguments), a malformed result. A tool's own failure is a ToolResult with
  // is_error.
  StatusOr<ToolResult> call_tool(const std::string& name, const Json& arguments,
                                 const std::atomic<bool>* cancel);
  bool alive() const { return transport_->alive(); }
  const std::string& protocol_version() const { return protocol_version_; }
  const std::string& server_name() const { return server_name_; }

 private:
  McpClient(std::unique_ptr<Transport> transport, double timeout_seconds)
      : transport_(std::move(transport)), timeout_seconds_(timeout_seconds) {}
  Clock::time_point deadline() const;

  const std::unique_ptr<Transport> transport_;
  const double timeout_seconds_;
  std::string protocol_version_;
  std::string server_name_;
  std::mutex tools_mu_;
  std::optional<std::vector<McpTool>> tools_;
};

}  // namespace kiln::mcp_client
