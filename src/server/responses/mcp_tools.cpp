#include "server/responses/mcp_tools.h"

#include "server/json_fields.h"

namespace kiln::server {
namespace {

// allowed_tools: ["name", ...] or {"tool_names": [...]} (OpenAI's filter; read_only is a hint
// kiln cannot check, so a filter on it is refused).
ApiResult<std::optional<std::vector<std::string>>> read_allowed_tools(const Json& value,
                                                                      const std::string& at) {
  const Json* names = &value;
  if (value.is_object()) {
    if (value.contains("read_only") && !value["read_only"].is_null())
      return ApiError::bad_request(at + ".read_only is not supported: kiln cannot tell which "
                                        "tools only read; list them in tool_names",
                                   at + ".read_only");
    if (!value.contains("tool_names")) return std::optional<std::vector<std::string>>();
    names = &value["tool_names"];
  }
  if (!names->is_array())
    return ApiError::bad_request(at + " must be an array of tool names or {\"tool_names\": [...]}",
                                 at);
  std::vector<std::string> out;
  for (const Json& n : *names) {
    if (!n.is_string()) return ApiError::bad_request(at + " must hold tool names (strings)", at);
    out.push_back(n);
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

}  // namespace

ApiResult<McpServerRef> read_mcp_tool(const Json& tool, const std::string& at,
                                      const McpOptions& options) {
  FieldReader t(tool, at + ".");
  t.require("server_label");
  McpServerRef ref;
  ref.label = t.string("server_label").value_or("");
  const std::optional<std::string> url = t.string("server_url");
  const Json* headers = t.object("headers");
  const std::optional<std::string> authorization = t.string("authorization");
  t.string("server_description");
  if (t.has("connector_id"))
    t.fail("connector_id", "is not supported: kiln connects to MCP servers by server_url");
  if (!t.ok()) return t.error();
  if (ref.label.empty()) return ApiError::bad_request(at + ".server_label must not be empty",
                                                      at + ".server_label");
  const Json* approval = t.any("require_approval");
  if (!approval || *approval != Json("never"))
    return ApiError::bad_request(
        at + ".require_approval must be \"never\": kiln runs MCP tools without an approval "
             "step (OpenAI's default is \"always\", so it must be said)",
        at + ".require_approval");
  if (const Json* allowed = t.any("allowed_tools")) {
    auto names = read_allowed_tools(*allowed, at + ".allowed_tools");
    if (!names.ok()) return names.error();
    ref.allowed_tools = std::move(*names);
  }
  if (!url) {
    if (options.pool && options.pool->has(ref.label)) return ref;
    return ApiError::bad_request(
        at + ".server_url is required (or a server_label that names a server of kiln's "
             "--mcp-config)",
        at + ".server_url");
  }
  if (!url->starts_with("http://") && !url->starts_with("https://"))
    return ApiError::bad_request(at + ".server_url must start with http:// or https://",
                                 at + ".server_url");
  mcp_client::McpServerConfig config;
  config.name = ref.label;
  config.url = *url;
  if (headers) {
    for (auto it = headers->begin(); it != headers->end(); ++it) {
      if (!it.value().is_string())
        return ApiError::bad_request(at + ".headers." + it.key() + " must be a string",
                                     at + ".headers");
      config.headers[it.key()] = it.value().get<std::string>();
    }
  }
  if (authorization) config.headers["Authorization"] = "Bearer " + *authorization;
  ref.own = std::move(config);
  return ref;
}

}  // namespace kiln::server
