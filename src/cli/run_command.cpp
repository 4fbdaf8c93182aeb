// `kiln run MODEL -p PROMPT`: stream a continuation of the prompt to stdout, then report
// prompt and generation speed on stderr.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/loaded_model.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string prompt;
  bool prompt_given = false;
  int num_predict = 128;
  int threads = 0;
  int context = 4096;
  SamplingParams sampling;
};

int run(const RunOptions& o) {
  auto loaded = load_model(o.model, o.threads);
  if (!loaded) return 1;
  auto tokenizer = Tokenizer::from_gguf(*loaded->file);
  if (!tokenizer.ok()) {
    print_error(tokenizer.message());
    return 1;
  }
  std::string prompt = o.prompt;
  if (!o.prompt_given) prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  const std::vector<int32_t> ids = tokenizer->encode(prompt, /*add_special=*/true,
                                                     /*parse_special=*/true);
  if (ids.empty()) {
    print_error("the prompt is empty");
    return 1;
  }
  Session session(*loaded->model, (int64_t)o.context);
  if ((int64_t)ids.size() >= session.max_tokens()) {
    print_error("the prompt has " + std::to_string(ids.size()) + " tokens, more than the context of " +
                std::to_string(session.max_tokens()) + " allows (see --ctx-size)");
    return 1;
  }
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  if (Status s = session.append(ids); !s.ok()) {
    print_error(o.model + ": " + s.message());
    return 1;
  }
  const double prompt_seconds = std::chrono::duration<double>(clock::now() - start).count();

  Sampler sampler(o.sampling);
  IncrementalDecoder decoder(*tokenizer);
  int generated = 0;
  const auto gen_start = clock::now();
  while (generated < o.num_predict && session.num_tokens() < session.max_tokens()) {
    const int32_t next = sampler.sample(session.last_logits());
    ++generated;
    if (tokenizer->is_end_of_generation(next)) break;
    const std::string text = decoder.push(next);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    if (generated == o.num_predict) break;
    if (Status s = session.append(std::span<const int32_t>(&next, 1)); !s.ok()) {
      print_error(s.message());
      return 1;
    }
  }
  const std::string tail = decoder.flush();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputc('\n', stdout);
  const double gen_seconds = std::chrono::duration<double>(clock::now() - gen_start).count();
  std::fprintf(stderr, "prompt: %zu tokens, %.1f tokens/s | generation: %d tokens, %.1f tokens/s\n",
               ids.size(), ids.size() / prompt_seconds, generated,
               generated > 0 ? generated / gen_seconds : 0.0);
  return 0;
}

}  // namespace

void register_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate a continuation of a prompt");
  cmd->add_option("model", opts->model, "GGUF model file")->required();
  cmd->add_option("-p,--prompt", opts->prompt, "prompt text (default: read stdin)");
  cmd->add_option("-n,--n-predict", opts->num_predict, "maximum tokens to generate")
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
    if (Status s = opts->sampling.validate(); !s.ok()) {
      print_error(s.message());
      exit_code = 2;
      return;
    }
    exit_code = run(*opts);
  });
}

}  // namespace kiln::cli
