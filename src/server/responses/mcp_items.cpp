#include "server/responses/mcp_items.h"

#include <charconv>

namespace kiln::server {
namespace {

// The integer after `prefix` at the start of `message`, if there is one.
std::optional<int> leading_code(const std::string& message, std::string_view prefix) {
  if (!message.starts_with(prefix)) return std::nullopt;
  int code = 0;
  const char* begin = message.data() + prefix.size();
  const auto [end, ec] = std::from_chars(begin, message.data() + message.size(), code);
  if (ec != std::errc() || end == begin) return std::nullopt;
  return code;
}

}  // namespace

Json mcp_list_tools_item(const std::string& server_label,
                         const std::vector<mcp_client::McpTool>& tools,
                         const std::optional<std::string>& error) {
  Json listed = Json::array();
  for (const mcp_client::McpTool& t : tools)
    listed.push_back({{"name", t.name},
                      {"description", t.description},
                      {"input_schema", t.input_schema},
                      {"annotations", nullptr}});
  return {{"id", random_id("mcpl_")},
          {"type", "mcp_list_tools"},
          {"server_label", server_label},
          {"tools", std::move(listed)},
          {"error", error ? Json(*error) : Json()}};
}

Json mcp_error_json(const std::string& message) {
  if (auto code = leading_code(message, "error "))
    return {{"type", "mcp_protocol_error"},
            {"code", *code},
            {"message", message.substr(message.find(": ") == std::string::npos
                                           ? 0
                                           : message.find(": ") + 2)}};
  if (auto code = leading_code(message, "HTTP "); code && !message.starts_with("HTTP transfer"))
    return {{"type", "http_error"}, {"code", *code}, {"message", message}};
  const int code = message.find("timed out") != std::string::npos ? -32001 : -32000;
  return {{"type", "mcp_protocol_error"}, {"code", code}, {"message", message}};
}

Json mcp_call_item(const std::string& id, const std::string& server_label,
                   const std::string& name, const std::string& arguments,
                   const McpCallOutcome& outcome) {
  Json item = {{"id", id},         {"type", "mcp_call"}, {"server_label", server_label},
               {"name", name},     {"arguments", arguments}, {"output", nullptr},
               {"error", nullptr}, {"status", "completed"}};
  if (!outcome.result) {
    item["error"] = mcp_error_json(outcome.error);
    item["status"] = "failed";
  } else if (outcome.result->is_error) {
    item["error"] = {{"type", "mcp_tool_execution_error"},
                     {"content", Json::array({{{"type", "text"}, {"text", outcome.result->text}}})}};
    item["status"] = "failed";
  } else {
    item["output"] = outcome.result->text;
  }
  return item;
}

std::string mcp_outcome_text(const McpCallOutcome& outcome) {
  if (!outcome.result) return "Error: " + outcome.error;
  if (outcome.result->is_error) return "Error: " + outcome.result->text;
  return outcome.result->text;
}

Json mcp_template_tool(const mcp_client::McpTool& tool) {
  Json function = {{"name", tool.name}};
  if (!tool.description.empty()) function["description"] = tool.description;
  function["parameters"] = tool.input_schema;
  return {{"type", "function"}, {"function", std::move(function)}};
}

}  // namespace kiln::server
