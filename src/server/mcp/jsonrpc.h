// JSON-RPC 2.0 as MCP uses it: the error codes and the shapes of responses and
// notifications. Shared by every MCP transport (HTTP's /mcp, `kiln mcp` over stdio).
#pragma once

#include <string>

#include "server/json_util.h"

namespace kiln::server::mcp {

inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

Json rpc_result(const Json& id, Json result);
// `id` is null when the request's id could not be read (a parse error).
Json rpc_error(const Json& id, int code, const std::string& message);
Json rpc_notification(const std::string& method, Json params);

}  // namespace kiln::server::mcp
