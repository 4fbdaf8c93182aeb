// `kiln run --chat --mcp-config FILE`: the configured MCP servers' tools in the terminal
// chat. At start every server is connected and its tools listed (a server that fails is
// reported on stderr and left out); the model sees the tools through its chat template and
// its calls are held to their schemas by the tool-call grammar: "auto" (it may answer in
// text or call), or with --tool-choice required a call on the first turn of each answer
// (later turns are "auto", so it can answer with what the tools returned). run_chat.cpp runs the loop: a turn that calls tools has each call run and
// shown as it happens, the results appended as tool messages, and the model answers again,
// up to --max-tool-turns rounds.
#pragma once

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "mcp_client/server_pool.h"
#include "structured/compiled_grammar.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::cli {

class ChatTools {
 public:
  // Errors: the file is bad, no tool could be listed, or the grammar cannot be built.
  static StatusOr<std::unique_ptr<ChatTools>> open(const std::string& config_path,
                                                   double timeout_seconds, Engine& engine,
                                                   tool_calls::ToolCallFormat format,
                                                   bool require_first_call);

  const nlohmann::json& template_tools() const { return template_tools_; }
  // The constraint of an answer's first turn (`first`) or a later one.
  const std::shared_ptr<const structured::CompiledGrammar>& grammar(bool first) const {
    return first && required_ ? required_ : grammar_;
  }
  tool_calls::ToolCallFormat format() const { return format_; }
  bool has(const std::string& name) const;
  // Runs one call: the text the model reads as its result ("Error: ..." when it failed).
  std::string call(const std::string& name, const std::string& arguments,
                   const std::atomic<bool>* stop);

 private:
  struct Tool {
    std::string server;
    std::shared_ptr<mcp_client::McpClient> client;
  };
  std::shared_ptr<mcp_client::ServerPool> pool_;
  std::map<std::string, Tool> tools_;
  nlohmann::json template_tools_ = nlohmann::json::array();
  std::shared_ptr<const structured::CompiledGrammar> grammar_;    // auto
  std::shared_ptr<const structured::CompiledGrammar> required_;  // --tool-choice required
  tool_calls::ToolCallFormat format_ = tool_calls::ToolCallFormat::kHermes;
};

}  // namespace kiln::cli
