// `kiln run MODEL -p PROMPT`: stream a continuation of the prompt to stdout, then report
// prompt and generation speed on stderr. With --chat, a conversation in the model's own
// chat template (run_chat.cpp).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/engine_setup.h"
#include "cli/generation.h"
#include "cli/model_arg.h"
#include "cli/run_chat.h"

namespace kiln::cli {
namespace {

int run_completion(const RunOptions& o, RunningEngine& running) {
  std::string prompt = o.prompt;
  if (!o.prompt_given) prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  GenerationRequest request;
  request.prompt = running.tokenizer->encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (request.prompt.empty()) {
    print_error("the prompt is empty");
    return 1;
  }
  request.sampling = o.sampling;
  request.grammar = o.grammar;
  request.sampling.seed = o.seed;
  request.sampling.max_tokens = o.num_predict;
  if ((int64_t)request.prompt.size() >= running.engine->max_model_len()) {
    print_error("the prompt has " + std::to_string(request.prompt.size()) +
                " tokens, more than the context of " +
                std::to_string(running.engine->max_model_len()) + " allows (see --ctx-size)");
    return 1;
  }
  // The output may run to the end of the context, not past it.
  request.sampling.max_tokens = std::min<int32_t>(
      request.sampling.max_tokens, running.engine->max_model_len() - (int32_t)request.prompt.size());
  if (request.sampling.max_tokens == 0) return 0;
  auto result = stream_generation(*running.engine, std::move(request), nullptr);
  if (!result.ok()) {
    print_error(o.model + ": " + result.message());
    return 1;
  }
  // NOTE: flushed before the speed line goes to (unbuffered) stderr: with stdout a pipe
  // (`kiln run ... 2>&1 | less`) the newline would otherwise land after that line.
  std::fputc('\n', stdout);
  std::fflush(stdout);
  const double gen_tokens = (double)result->token_ids.size() - 1;
  std::fprintf(stderr, "prompt: %d tokens, %.1f tokens/s | generation: %zu tokens, %.1f tokens/s\n",
               result->num_prompt_tokens,
               result->prompt_seconds > 0 ? result->num_prompt_tokens / result->prompt_seconds : 0.0,
               result->token_ids.size(),
               result->generation_seconds > 0 ? gen_tokens / result->generation_seconds : 0.0);
  return 0;
}

int run(const RunOptions& o) {
  // One user: a pool of one context, not the serving default.
  EngineFlags flags;
  flags.kv_cache_dtype = o.kv_dtype;
  flags.max_model_len = o.context;
  flags.max_num_seqs = 1;
  flags.speculative_config = o.speculative_config;
  auto running = start_engine(o.model, o.threads, flags, /*log_kv=*/false, o.context);
  if (!running) return 1;
  RunOptions with_grammar = o;
  auto grammar = compile_structured_flags(o.structured, *running->engine);
  if (!grammar.ok()) {
    print_error(grammar.message());
    return 1;
  }
  with_grammar.grammar = *grammar;
  return o.chat ? run_chat(with_grammar, *running) : run_completion(with_grammar, *running);
}

// A stored model's defaults (kiln create) under the flags given on the command line.
void apply_model_defaults(const store::ModelDefaults& d, const CLI::App& cmd, RunOptions& o) {
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  const nlohmann::json& p = d.parameters;
  auto number = [&](const char* key) { return p.contains(key) && p[key].is_number(); };
  if (number("temperature") && !given("--temp")) o.sampling.temperature = p["temperature"].get<float>();
  if (number("top_k") && !given("--top-k")) o.sampling.top_k = p["top_k"].get<int32_t>();
  if (number("top_p") && !given("--top-p")) o.sampling.top_p = p["top_p"].get<float>();
  if (number("min_p") && !given("--min-p")) o.sampling.min_p = p["min_p"].get<float>();
  if (number("repeat_penalty")) o.sampling.repetition_penalty = p["repeat_penalty"].get<float>();
  if (number("presence_penalty")) o.sampling.presence_penalty = p["presence_penalty"].get<float>();
  if (number("frequency_penalty")) o.sampling.frequency_penalty = p["frequency_penalty"].get<float>();
  if (number("seed") && !given("--seed")) o.seed = (uint64_t)p["seed"].get<int64_t>();
  if (number("num_ctx") && !given("--ctx-size")) o.context = p["num_ctx"].get<int>();
  if (number("num_predict") && !given("--n-predict")) {
    // Ollama's -1 (no limit) and -2 (fill the context) both run to the end of the context.
    const int n = p["num_predict"].get<int>();
    o.num_predict = n < 0 ? (1 << 24) : n;
  }
  if (p.contains("stop") && p["stop"].is_array()) {
    for (const auto& s : p["stop"]) o.sampling.stop.push_back(s.get<std::string>());
  }
  if (d.system && !given("--system")) o.system_prompt = *d.system;
  if (d.chat_template) o.chat_template = *d.chat_template;
}

}  // namespace

void register_run_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate a continuation of a prompt, or chat");
  cmd->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
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
  cmd->add_option("--seed", opts->seed, "random seed");
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--speculative-config", opts->speculative_config, kSpeculativeConfigHelp);
  cmd->add_option("-c,--ctx-size", opts->context, "context size in tokens")
      ->check(CLI::Range(16, 1 << 22));
  cmd->add_option("--mcp-config", opts->mcp_config,
                  "with --chat: MCP servers ({\"mcpServers\": ...}) whose tools the model may "
                  "call; each call is run and shown as it happens")
      ->check(CLI::ExistingFile);
  cmd->add_option("--mcp-timeout", opts->mcp_timeout, "seconds an MCP server gets per request")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--tool-choice", opts->tool_choice,
                  "with --mcp-config: auto (the model decides) or required (each answer starts "
                  "with a tool call)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "required"}));
  cmd->add_option("--max-tool-turns", opts->max_tool_turns,
                  "with --mcp-config: rounds of tool calls per answer")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  add_kv_cache_dtype_option(cmd, opts->kv_dtype);
  add_structured_options(cmd, opts->structured);
  cmd->callback([opts, &exit_code, cmd] {
    opts->prompt_given = cmd->count("--prompt") > 0;
    if (!opts->mcp_config.empty() && !opts->chat) {
      print_error("--mcp-config needs --chat");
      exit_code = 2;
      return;
    }
    if (opts->chat && cmd->count("--n-predict") == 0) opts->num_predict = 1024;
    auto resolved = resolve_model_arg(opts->model);
    if (!resolved) {
      exit_code = 1;
      return;
    }
    apply_model_defaults(resolved->defaults, *cmd, *opts);
    // No token ids come from flags, so there is no vocabulary to check them against.
    if (Status s = opts->sampling.validate(std::numeric_limits<int64_t>::max()); !s.ok()) {
      print_error(s.message());
      exit_code = 2;
      return;
    }
    exit_code = run(*opts);
  });
}

}  // namespace kiln::cli
