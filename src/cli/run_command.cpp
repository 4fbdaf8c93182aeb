// `kiln run MODEL -p PROMPT`: stream a continuation of the prompt to stdout, then report
// prompt and generation speed on stderr. With --chat, a conversation in the model's own
// chat template (run_chat.cpp).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/generation.h"
#include "cli/loaded_model.h"
#include "cli/run_chat.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

int run_completion(const RunOptions& o, LoadedModel& loaded, const Tokenizer& tokenizer) {
  std::string prompt = o.prompt;
  if (!o.prompt_given) prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  const std::vector<int32_t> ids = tokenizer.encode(prompt, /*add_special=*/true,
                                                    /*parse_special=*/true);
  if (ids.empty()) {
    print_error("the prompt is empty");
    return 1;
  }
  Session session(*loaded.model, (int64_t)o.context);
  if ((int64_t)ids.size() >= session.max_tokens()) {
    print_error("the prompt has " + std::to_string(ids.size()) +
                " tokens, more than the context of " + std::to_string(session.max_tokens()) +
                " allows (see --ctx-size)");
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  if (Status s = session.append(ids); !s.ok()) {
    print_error(o.model + ": " + s.message());
    return 1;
  }
  const double prompt_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Sampler sampler(o.sampling);
  auto result = stream_generation(session, sampler, tokenizer, o.num_predict, nullptr);
  if (!result.ok()) {
    print_error(result.message());
    return 1;
  }
  std::fputc('\n', stdout);
  std::fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s\n",
               ids.size(), ids.size() / prompt_seconds, result->num_tokens,
               result->num_tokens > 0 ? result->num_tokens / result->seconds : 0.0);
  return 0;
}

int run(const RunOptions& o) {
  auto loaded = load_model(o.model, o.threads);
  if (!loaded) return 1;
  auto tokenizer = Tokenizer::from_gguf(*loaded->file);
  if (!tokenizer.ok()) {
    print_error(tokenizer.message());
    return 1;
  }
  return o.chat ? run_chat(o, *loaded, *tokenizer) : run_completion(o, *loaded, *tokenizer);
}

}  // namespace

void register_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate a continuation of a prompt, or chat");
  cmd->add_option("model", opts->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", opts->prompt,
                  "prompt text (default: read stdin); with --chat, one message to answer");
  cmd->add_flag("--chat", opts->chat, "chat in the model's own template (interactive)");
  cmd->add_option("--system", opts->system_prompt, "with --chat: a system message");
  cmd->add_option("-n,--n-predict", opts->num_predict, "maximum tokens to generate (per answer)")
      ->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--temp", opts->sampling.temperature, "temperature (0 = greedy)")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", opts->sampling.top_k, "top-k (0 = off)")->check(CLI::Range(0, 1 << 24));
  cmd->add_option("--top-p", opts->sampling.top_p, "top-p (1 = off)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", opts->sampling.min_p, "min-p (0 = off)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", opts->sampling.seed, "random seed");
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx-size", opts->context, "context size in tokens")
      ->check(CLI::Range(16, 1 << 22));
  cmd->callback([opts, &exit_code, cmd] {
    opts->prompt_given = cmd->count("--prompt") > 0;
    if (opts->chat && cmd->count("--n-predict") == 0) opts->num_predict = 1024;
    if (Status s = opts->sampling.validate(); !s.ok()) {
      print_error(s.message());
      exit_code = 2;
      return;
    }
    exit_code = run(*opts);
  });
}

}  // namespace kiln::cli
