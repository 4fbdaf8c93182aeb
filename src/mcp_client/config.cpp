#include "mcp_client/config.h"

#include <fstream>
#include <sstream>

#include "mcp_client/http_transport.h"

namespace kiln::mcp_client {
namespace {

StatusOr<std::map<std::string, std::string>> string_map(const Json& value,
                                                        const std::string& where) {
  if (!value.is_object()) return Status::Error(where + " must be an object of strings");
  std::map<std::string, std::string> out;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string())
      return Status::Error(where + "." + it.key() + " must be a string");
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

StatusOr<McpServerConfig> read_server(const std::string& name, const Json& entry) {
  const std::string at = "mcpServers." + name;
  if (!entry.is_object()) return Status::Error(at + " must be an object");
  McpServerConfig c;
  c.name = name;
  const bool has_command = entry.contains("command"), has_url = entry.contains("url");
  if (has_command == has_url)
    return Status::Error(at + " needs either \"command\" (a stdio server) or \"url\" (a "
                              "streamable HTTP server)");
  const std::string type = entry.contains("type") && entry["type"].is_string()
                               ? entry["type"].get<std::string>()
                               : (has_command ? "stdio" : "http");
  if (type == "sse")
    return Status::Error(at + ".type \"sse\" is not supported: kiln speaks streamable HTTP "
                              "(the HTTP+SSE transport was deprecated in 2025-03-26)");
  if (has_command) {
    if (type != "stdio") return Status::Error(at + ".type must be \"stdio\" with a command");
    if (!entry["command"].is_string() || entry["command"].get<std::string>().empty())
      return Status::Error(at + ".command must be a non-empty string");
    c.stdio.command = entry["command"];
    if (entry.contains("args")) {
      if (!entry["args"].is_array()) return Status::Error(at + ".args must be an array of strings");
      for (const Json& a : entry["args"]) {
        if (!a.is_string()) return Status::Error(at + ".args must be an array of strings");
        c.stdio.args.push_back(a);
      }
    }
    if (entry.contains("env")) {
      auto env = string_map(entry["env"], at + ".env");
      if (!env.ok()) return env.status();
      c.stdio.env = std::move(*env);
    }
    return c;
  }
  if (type != "http" && type != "streamable-http" && type != "streamableHttp")
    return Status::Error(at + ".type must be \"http\" with a url");
  if (!entry["url"].is_string()) return Status::Error(at + ".url must be a string");
  c.url = entry["url"];
  if (!c.url.starts_with("http://") && !c.url.starts_with("https://"))
    return Status::Error(at + ".url must start with http:// or https://");
  if (entry.contains("headers")) {
    auto headers = string_map(entry["headers"], at + ".headers");
    if (!headers.ok()) return headers.status();
    c.headers = std::move(*headers);
  }
  return c;
}

}  // namespace

StatusOr<std::vector<McpServerConfig>> parse_mcp_config(const std::string& text,
                                                        const std::string& source) {
  const Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Status::Error(source + ": not valid JSON");
  if (!root.is_object() || !root.contains("mcpServers") || !root["mcpServers"].is_object())
    return Status::Error(source + ": expected {\"mcpServers\": {NAME: {...}}}");
  std::vector<McpServerConfig> out;
  for (auto it = root["mcpServers"].begin(); it != root["mcpServers"].end(); ++it) {
    if (it.key().empty()) return Status::Error(source + ": a server name is empty");
    auto server = read_server(it.key(), it.value());
    if (!server.ok()) return Status::Error(source + ": " + server.message());
    out.push_back(std::move(*server));
  }
  return out;
}

StatusOr<std::vector<McpServerConfig>> read_mcp_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Error(path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return parse_mcp_config(text.str(), path);
}

StatusOr<std::unique_ptr<Transport>> open_transport(const McpServerConfig& config) {
  if (!config.is_stdio()) return std::unique_ptr<Transport>(new HttpTransport(config.url, config.headers));
  auto spawned = StdioTransport::spawn(config.stdio);
  if (!spawned.ok()) return spawned.status();
  return std::unique_ptr<Transport>(std::move(*spawned));
}

}  // namespace kiln::mcp_client
