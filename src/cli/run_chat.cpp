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
#include "cli/generation.h"

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
  ChatLoop(const RunOptions& o, RunningEngine& running, chat::ChatTemplate tmpl)
      : o_(o), running_(running), template_(std::move(tmpl)) {
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
  // has seen, so only the new message is computed.
  bool answer(const std::string& user_text) {
    messages_.push_back({{"role", "user"}, {"content", user_text}});
    auto prompt = chat::apply_chat_template(template_, messages_, nullptr, true, bos_, eos_);
    if (!prompt.ok()) {
      print_error("chat template: " + prompt.message());
      return false;
    }
    GenerationRequest request;
    request.prompt = running_.tokenizer->encode(*prompt, /*add_special=*/false,
                                                /*parse_special=*/true);
    const int32_t context = running_.engine->max_model_len();
    if ((int64_t)request.prompt.size() >= context) {
      print_error("the conversation has " + std::to_string(request.prompt.size()) +
                  " tokens, more than the context of " + std::to_string(context) +
                  " allows; /reset to start over");
      messages_.erase(messages_.size() - 1);
      return true;
    }
    request.sampling = o_.sampling;
    request.grammar = o_.grammar;
    request.sampling.seed = o_.seed + num_answers_++;  // reproducible, different per answer
    request.sampling.max_tokens =
        std::min<int32_t>(o_.num_predict, context - (int32_t)request.prompt.size());
    g_stop.store(false);
    g_generating.store(true);
    auto result = stream_generation(*running_.engine, std::move(request), &g_stop);
    g_generating.store(false);
    if (!result.ok()) {
      print_error(result.message());
      return false;
    }
    std::fputs(result->interrupted ? " [stopped]\n" : "\n", stdout);
    std::fflush(stdout);
    messages_.push_back({{"role", "assistant"}, {"content", result->text}});
    return true;
  }

 private:
  const RunOptions& o_;
  RunningEngine& running_;
  chat::ChatTemplate template_;
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
  ChatLoop chat(o, running, std::move(*tmpl));

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
