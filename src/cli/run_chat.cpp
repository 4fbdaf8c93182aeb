#include "cli/run_chat.h"

#include <readline/history.h>
#include <readline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "cli/chat_tools.h"
#include "cli/generation.h"
#include "tool_calls/tool_call_parser.h"

namespace kiln::cli {
namespace {

// Ctrl-C while an answer streams stops that answer; at the prompt it clears the line.
std::atomic<bool> g_generating{false};
std::atomic<bool> g_stop{false};
bool g_interactive = false;

void on_sigint(int) {
  if (g_generating.load()) {
    g_stop.store(true);
    return;
  }
  if (g_interactive) {
    // NOTE: readline's redisplay functions are not async-signal-safe, but this is the
    // conventional way to clear its line and the worst case is a garbled prompt.
    std::fputc('\n', stdout);
    rl_on_new_line();
    rl_replace_line("", 0);
    rl_redisplay();
  } else {
    std::_Exit(130);
  }
}

std::optional<std::string> read_line(bool interactive) {
  if (interactive) {
    char* line = readline("> ");
    if (!line) return std::nullopt;
    std::string text(line);
    std::free(line);
    if (!text.empty()) add_history(text.c_str());
    return text;
  }
  std::string text;
  if (!std::getline(std::cin, text)) return std::nullopt;
  return text;
}

class ChatLoop {
 public:
  ChatLoop(const RunOptions& o, RunningEngine& running, chat::ChatTemplate tmpl,
           std::unique_ptr<ChatTools> tools)
      : o_(o), running_(running), template_(std::move(tmpl)), tools_(std::move(tools)) {
    reset();
    const Tokenizer& tok = *running.tokenizer;
    if (tok.bos_id() >= 0) bos_ = std::string(tok.token_text(tok.bos_id()));
    if (tok.eos_id() >= 0) eos_ = std::string(tok.token_text(tok.eos_id()));
  }

  void reset() {
    messages_ = nlohmann::json::array();
    if (!o_.system_prompt.empty())
      messages_.push_back({{"role", "system"}, {"content", o_.system_prompt}});
  }

  // Answers one user message; false on an error that ends the chat. The conversation so
  // far is re-sent every turn; the engine's prefix cache supplies the KV of the part it
  // has seen, so only the new message is computed. With MCP tools, a turn that calls them
  // has the calls run and shown, their results appended, and the model answers again.
  bool answer(const std::string& user_text) {
    const size_t before = messages_.size();
    messages_.push_back({{"role", "user"}, {"content", user_text}});
    for (int round = 0;; ++round) {
      bool fatal = false;
      std::optional<GenerationResult> result = generate(round == 0, fatal);
      if (!result) {
        if (fatal) return false;
        // Too long for the context: this exchange is dropped, the chat goes on.
        messages_.erase(messages_.begin() + (std::ptrdiff_t)before, messages_.end());
        return true;
      }
      std::fputs(result->interrupted ? " [stopped]\n" : "\n", stdout);
      std::fflush(stdout);
      if (!tools_ || result->interrupted || !run_tool_calls(result->text, round)) {
        messages_.push_back({{"role", "assistant"}, {"content", result->text}});
        return true;
      }
    }
  }

  // One generation over the conversation, streamed to stdout; nullopt when it could not run
  // (`fatal` set when the chat must end).
  std::optional<GenerationResult> generate(bool first_turn, bool& fatal) {
    const nlohmann::json tools = tools_ ? tools_->template_tools() : nlohmann::json();
    auto prompt = chat::apply_chat_template(template_, messages_, tools, true, bos_, eos_);
    if (!prompt.ok()) {
      print_error("chat template: " + prompt.message());
      fatal = true;
      return std::nullopt;
    }
    GenerationRequest request;
    request.prompt = running_.tokenizer->encode(*prompt, /*add_special=*/false,
                                                /*parse_special=*/true);
    const int32_t context = running_.engine->max_model_len();
    if ((int64_t)request.prompt.size() >= context) {
      print_error("the conversation has " + std::to_string(request.prompt.size()) +
                  " tokens, more than the context of " + std::to_string(context) +
                  " allows; /reset to start over");
      return std::nullopt;
    }
    request.sampling = o_.sampling;
    request.grammar = tools_ ? tools_->grammar(first_turn) : o_.grammar;
    request.sampling.seed = o_.seed + num_answers_++;  // reproducible, different per answer
    request.sampling.max_tokens =
        std::min<int32_t>(o_.num_predict, context - (int32_t)request.prompt.size());
    g_stop.store(false);
    g_generating.store(true);
    auto result = stream_generation(*running_.engine, std::move(request), &g_stop);
    g_generating.store(false);
    if (!result.ok()) {
      print_error(result.message());
      fatal = true;
      return std::nullopt;
    }
    return std::move(*result);
  }

  // The turn's calls of MCP tools, run and shown as they happen, with their results added
  // to the conversation; false when the turn called none (it is then the answer).
  bool run_tool_calls(const std::string& text, int round) {
    const tool_calls::ParsedToolCalls parsed = tool_calls::parse_tool_calls(tools_->format(), text);
    bool any = false;
    for (const auto& call : parsed.calls) any |= tools_->has(call.name);
    if (!any) return false;
    if (round >= o_.max_tool_turns) {
      std::printf("[not calling: the turn limit (--max-tool-turns %d) was reached]\n",
                  o_.max_tool_turns);
      return false;
    }
    nlohmann::json assistant = {{"role", "assistant"}, {"content", parsed.content},
                                {"tool_calls", nlohmann::json::array()}};
    std::vector<nlohmann::json> results;
    for (size_t i = 0; i < parsed.calls.size(); ++i) {
      const tool_calls::ParsedToolCall& call = parsed.calls[i];
      const std::string id = "call_" + std::to_string(round) + "_" + std::to_string(i);
      // Templates render arguments with tojson: they go in as an object.
      assistant["tool_calls"].push_back(
          {{"id", id},
           {"type", "function"},
           {"function", {{"name", call.name},
                         {"arguments", nlohmann::json::parse(call.arguments, nullptr, false)}}}});
      std::string output = "Error: no such tool";
      if (tools_->has(call.name)) {
        std::printf("[calling %s %s]\n", call.name.c_str(), call.arguments.c_str());
        std::fflush(stdout);
        g_stop.store(false);
        g_generating.store(true);  // Ctrl-C cancels the call as it stops an answer
        output = tools_->call(call.name, call.arguments, &g_stop);
        g_generating.store(false);
      }
      std::printf("[%s returned] %s\n", call.name.c_str(), output.c_str());
      std::fflush(stdout);
      results.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", output}});
    }
    messages_.push_back(std::move(assistant));
    for (nlohmann::json& r : results) messages_.push_back(std::move(r));
    return true;
  }

 private:
  const RunOptions& o_;
  RunningEngine& running_;
  chat::ChatTemplate template_;
  std::unique_ptr<ChatTools> tools_;  // --mcp-config's; null: none
  std::string bos_, eos_;
  nlohmann::json messages_;
  uint64_t num_answers_ = 0;
};

}  // namespace

int run_chat(const RunOptions& o, RunningEngine& running) {
  const LoadedModel& loaded = running.loaded;
  std::string source;
  if (o.chat_template) {
    source = *o.chat_template;
  } else if (auto text = loaded.file->get_string("tokenizer.chat_template")) {
    source = std::string(*text);
  } else {
    // Files without a template get their family's published one (Gemma), else ChatML.
    const std::string arch = loaded.model->config().arch;
    std::fprintf(stderr, "kiln: %s has no chat template; using the default for '%s'\n",
                 o.model.c_str(), arch.c_str());
    source = chat::default_template_for_architecture(arch);
  }
  auto tmpl = chat::ChatTemplate::parse(source);
  if (!tmpl.ok()) {
    print_error(o.model + ": " + tmpl.message());
    return 1;
  }
  std::unique_ptr<ChatTools> tools;
  if (!o.mcp_config.empty()) {
    if (o.grammar) {
      print_error("--mcp-config cannot be combined with --json-schema, --regex or --grammar");
      return 2;
    }
    auto opened = ChatTools::open(o.mcp_config, o.mcp_timeout, *running.engine,
                                  tool_calls::detect_tool_call_format(source),
                                  o.tool_choice == "required");
    if (!opened.ok()) {
      print_error(opened.message());
      return 2;
    }
    tools = std::move(*opened);
  }
  ChatLoop chat(o, running, std::move(*tmpl), std::move(tools));

  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);

  if (o.prompt_given) return chat.answer(o.prompt) ? 0 : 1;

  g_interactive = isatty(STDIN_FILENO) != 0;
  if (g_interactive) {
    rl_catch_signals = 0;
    std::fprintf(stderr, "kiln chat: /reset starts over, /exit (or Ctrl-D) leaves, "
                         "Ctrl-C stops an answer.\n");
  }
  while (auto line = read_line(g_interactive)) {
    if (*line == "/exit" || *line == "/quit") break;
    if (*line == "/reset") {
      chat.reset();
      std::fputs("(conversation reset)\n", stdout);
      continue;
    }
    if (line->empty()) continue;
    if (!chat.answer(*line)) return 1;
  }
  return 0;
}

}  // namespace kiln::cli
