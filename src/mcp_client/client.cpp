#include "mcp_client/client.h"

#include "util/version.h"

namespace kiln::mcp_client {
namespace {

constexpr const char* kKnownVersions[] = {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"};
constexpr int kMaxListPages = 100;  // a server whose cursor never ends is not followed forever

}  // namespace

StatusOr<ToolResult> read_tool_result(const Json& result) {
  if (!result.is_object()) return Status::Error("malformed tool result: not an object");
  ToolResult out;
  if (result.contains("isError")) {
    if (!result["isError"].is_boolean())
      return Status::Error("malformed tool result: isError is not a boolean");
    out.is_error = result["isError"].get<bool>();
  }
  if (!result.contains("content") || !result["content"].is_array())
    return Status::Error("malformed tool result: content is not an array");
  for (const Json& part : result["content"]) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
      return Status::Error("malformed tool result: a content item has no type");
    const std::string type = part["type"];
    std::string piece;
    if (type == "text") {
      if (!part.contains("text") || !part["text"].is_string())
        return Status::Error("malformed tool result: a text item has no text");
      piece = part["text"];
    } else if (type == "resource" && part.contains("resource") && part["resource"].is_object() &&
               part["resource"].contains("text") && part["resource"]["text"].is_string()) {
      piece = part["resource"]["text"];
    } else {
      // Images, audio and links mean nothing to a text-only model: named, not inlined.
      piece = "[" + type + " content]";
    }
    if (!out.text.empty()) out.text += "\n";
    out.text += piece;
  }
  if (out.text.empty() && result.contains("structuredContent"))
    out.text = result["structuredContent"].dump();
  return out;
}

StatusOr<std::vector<McpTool>> read_tool_list(const Json& result) {
  if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array())
    return Status::Error("malformed tools/list result: tools is not an array");
  std::vector<McpTool> out;
  for (const Json& t : result["tools"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
      return Status::Error("malformed tools/list result: a tool has no name");
    McpTool tool;
    tool.name = t["name"];
    if (t.contains("description") && t["description"].is_string())
      tool.description = t["description"];
    if (t.contains("inputSchema")) {
      if (!t["inputSchema"].is_object())
        return Status::Error("malformed tools/list result: tool '" + tool.name +
                             "' has an inputSchema that is not an object");
      tool.input_schema = t["inputSchema"];
    }
    out.push_back(std::move(tool));
  }
  return out;
}

Clock::time_point McpClient::deadline() const {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(timeout_seconds_));
}

StatusOr<std::unique_ptr<McpClient>> McpClient::connect(std::unique_ptr<Transport> transport,
                                                        double timeout_seconds,
                                                        const std::atomic<bool>* cancel) {
  std::unique_ptr<McpClient> c(new McpClient(std::move(transport), timeout_seconds));
  const Json params = {{"protocolVersion", kClientProtocolVersion},
                       {"capabilities", Json::object()},
                       {"clientInfo", {{"name", "kiln"}, {"version", std::string(kKilnVersion)}}}};
  auto result = c->transport_->request("initialize", params, c->deadline(), cancel);
  if (!result.ok()) return Status::Error("initialize: " + result.message());
  if (!result->is_object() || !result->contains("protocolVersion") ||
      !(*result)["protocolVersion"].is_string())
    return Status::Error("initialize: malformed result (no protocolVersion)");
  c->protocol_version_ = (*result)["protocolVersion"];
  bool known = false;
  for (const char* v : kKnownVersions) known |= c->protocol_version_ == v;
  if (!known)
    return Status::Error("initialize: the server speaks protocol version " +
                         c->protocol_version_ + ", which kiln does not");
  if (result->contains("serverInfo") && (*result)["serverInfo"].is_object())
    c->server_name_ = (*result)["serverInfo"].value("name", "");
  c->transport_->set_protocol_version(c->protocol_version_);
  Status sent = c->transport_->notify("notifications/initialized", Json::object(), c->deadline());
  if (!sent.ok()) return Status::Error("notifications/initialized: " + sent.message());
  return c;
}

StatusOr<std::vector<McpTool>> McpClient::tools(const std::atomic<bool>* cancel) {
  std::lock_guard lock(tools_mu_);
  if (tools_) return *tools_;
  std::vector<McpTool> all;
  Json cursor;
  for (int page = 0; page < kMaxListPages; ++page) {
    Json params = Json::object();
    if (!cursor.is_null()) params["cursor"] = cursor;
    auto result = transport_->request("tools/list", params, deadline(), cancel);
    if (!result.ok()) return Status::Error("tools/list: " + result.message());
    auto tools = read_tool_list(*result);
    if (!tools.ok()) return tools.status();
    all.insert(all.end(), tools->begin(), tools->end());
    cursor = result->value("nextCursor", Json());
    if (!cursor.is_string()) {
      tools_ = all;
      return all;
    }
  }
  return Status::Error("tools/list: more than " + std::to_string(kMaxListPages) + " pages");
}

StatusOr<ToolResult> McpClient::call_tool(const std::string& name, const Json& arguments,
                                          const std::atomic<bool>* cancel) {
  auto result = transport_->request("tools/call", {{"name", name}, {"arguments", arguments}},
                                    deadline(), cancel);
  if (!result.ok()) return result.status();
  return read_tool_result(*result);
}

}  // namespace kiln::mcp_client
