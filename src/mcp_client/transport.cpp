#include "mcp_client/transport.h"

namespace kiln::mcp_client {

StatusOr<Json> read_response(const Json& message) {
  if (!message.is_object()) return Status::Error("malformed reply: not a JSON-RPC object");
  if (message.contains("error")) {
    const Json& e = message["error"];
    if (!e.is_object()) return Status::Error("malformed reply: error is not an object");
    const std::string code = e.contains("code") ? e["code"].dump() : "?";
    const std::string text =
        e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
    return Status::Error("error " + code + ": " + text);
  }
  if (!message.contains("result"))
    return Status::Error("malformed reply: neither result nor error");
  return message["result"];
}

}  // namespace kiln::mcp_client
