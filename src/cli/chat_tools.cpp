#include "cli/chat_tools.h"

#include <cstdio>

#include "structured/grammar_compiler.h"

#include "mcp_client/config.h"
#include "tool_calls/tool_call_grammar.h"

namespace kiln::cli {

StatusOr<std::unique_ptr<ChatTools>> ChatTools::open(const std::string& config_path,
                                                     double timeout_seconds, Engine& engine,
                                                     tool_calls::ToolCallFormat format,
                                                     bool require_first_call) {
  auto servers = mcp_client::read_mcp_config_file(config_path);
  if (!servers.ok()) return Status::Error("--mcp-config " + servers.message());
  auto tools = std::unique_ptr<ChatTools>(new ChatTools());
  tools->format_ = format;
  tools->pool_ = std::make_shared<mcp_client::ServerPool>(*servers, timeout_seconds);
  tool_calls::ToolCallGrammarRequest g;
  g.format = format;
  for (const mcp_client::McpServerConfig& server : tools->pool_->servers()) {
    auto client = tools->pool_->client(server.name, nullptr);
    auto listed = client.ok() ? (*client)->tools(nullptr)
                              : StatusOr<std::vector<mcp_client::McpTool>>(client.status());
    if (!listed.ok()) {
      std::fprintf(stderr, "kiln: mcp server '%s' left out: %s\n", server.name.c_str(),
                   listed.message().c_str());
      continue;
    }
    std::fprintf(stderr, "kiln: mcp server '%s': %zu tools\n", server.name.c_str(),
                 listed->size());
    for (mcp_client::McpTool& t : *listed) {
      if (tools->tools_.contains(t.name)) {
        std::fprintf(stderr, "kiln: tool '%s' of '%s' left out: another server has one of "
                             "that name\n", t.name.c_str(), server.name.c_str());
        continue;
      }
      // As the server's loop does: keys the schema does not list are not the model's to add.
      if (t.input_schema.contains("properties") && !t.input_schema.contains("additionalProperties"))
        t.input_schema["additionalProperties"] = false;
      nlohmann::json function = {{"name", t.name}, {"parameters", nlohmann::json(t.input_schema)}};
      if (!t.description.empty()) function["description"] = t.description;
      tools->template_tools_.push_back({{"type", "function"}, {"function", function}});
      g.tools.push_back({t.name, t.input_schema});
      tools->tools_[t.name] = Tool{server.name, *client};
    }
  }
  if (g.tools.empty()) return Status::Error("--mcp-config " + config_path + ": no tools to offer");
  structured::GrammarCompiler* compiler = engine.grammar_compiler();
  if (!compiler) return Status::Error("tool calls need the model's tokenizer");
  auto grammar = tool_calls::build_tool_call_grammar(g);
  if (!grammar.ok()) return Status::Error("--mcp-config: the tools: " + grammar.message());
  tools->grammar_ = compiler->compile(*grammar);
  if (require_first_call) {
    g.choice.mode = tool_calls::ToolChoice::Mode::kRequired;
    auto required = tool_calls::build_tool_call_grammar(g);
    if (!required.ok()) return Status::Error("--mcp-config: the tools: " + required.message());
    tools->required_ = compiler->compile(*required);
  }
  return tools;
}

bool ChatTools::has(const std::string& name) const { return tools_.contains(name); }

std::string ChatTools::call(const std::string& name, const std::string& arguments,
                            const std::atomic<bool>* stop) {
  const Tool& tool = tools_.at(name);
  const auto args = nlohmann::ordered_json::parse(arguments, nullptr, false);
  if (!args.is_object()) return "Error: the arguments are not a JSON object";
  // A stdio server that exited is started again by the pool.
  auto client = tool.client->alive() ? StatusOr<std::shared_ptr<mcp_client::McpClient>>(tool.client)
                                     : pool_->client(tool.server, stop);
  if (!client.ok()) return "Error: " + client.message();
  auto result = (*client)->call_tool(name, args, stop);
  if (!result.ok()) return "Error: " + result.message();
  return result->is_error ? "Error: " + result->text : result->text;
}

}  // namespace kiln::cli
