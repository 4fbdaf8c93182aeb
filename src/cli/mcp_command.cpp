// `kiln mcp MODEL`: the model as an MCP server over stdio, for agents that spawn their tool
// servers (Claude Desktop, the `mcp` SDK's stdio client, ...). Newline-delimited JSON-RPC on
// stdin and stdout; every log line goes to stderr, since stdout is the protocol. The
// protocol itself (server/mcp/) is the one `kiln serve` answers on POST /mcp.
//
// One request at a time: a tools/call that generates blocks the loop until it finishes,
// writing notifications/progress lines meanwhile when the call carried a progressToken.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/engine_setup.h"
#include "cli/model_context_setup.h"
#include "server/mcp/dispatcher.h"

namespace kiln::cli {
namespace {

struct McpOptions {
  std::string model;
  std::vector<std::string> served_model_names;
  int threads = 0;
  int context = 0;  // 0: the model's trained context
  KvDType kv_dtype = KvDType::kF16;
};

void write_message(const server::Json& message) {
  // dump_json is compact: no newline can end up inside a message.
  std::cout << server::dump_json(message) << '\n' << std::flush;
}

void run_generation(Engine& engine, server::mcp::PendingGeneration pending) {
  const int32_t max_tokens = pending.request.sampling.max_tokens;
  auto stream = engine.submit(std::move(pending.request));
  if (!stream.ok()) {
    write_message(server::mcp::GenerationReply::refused(pending.id, stream.message()));
    return;
  }
  server::mcp::GenerationReply reply(pending.id, pending.progress_token, max_tokens);
  while (auto out = (*stream)->next())
    if (auto progress = reply.on_output(*out)) write_message(*progress);
  write_message(reply.finish());
}

int serve_stdio(const McpOptions& o) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("kiln-mcp"));
  spdlog::set_pattern("%^%l%$: %v");
  // One caller, one request at a time: a pool of one context, not the serving default.
  EngineFlags flags;
  flags.kv_cache_dtype = o.kv_dtype;
  flags.max_model_len = o.context;
  flags.max_num_seqs = 1;
  auto running = start_engine(o.model, o.threads, flags, /*log_kv=*/false, std::max(o.context, 1));
  if (!running) return 1;
  auto ctx = make_model_context(*running, o.model, o.served_model_names, "", flags.max_num_seqs);
  if (!ctx) return 1;
  spdlog::info("serving '{}' over MCP on stdio", ctx->name());
  server::mcp::Dispatcher dispatcher(*ctx);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    server::mcp::Step step = dispatcher.handle_text(line);
    if (step.reply) write_message(*step.reply);
    if (step.generation) run_generation(*running->engine, std::move(*step.generation));
  }
  spdlog::info("stdin closed; exiting");
  return 0;
}

}  // namespace

void register_mcp_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<McpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "mcp",
      "Serve a model as an MCP server over stdio (tools: chat, complete, tokenize, list_models)");
  cmd->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
  cmd->add_option("--served-model-name", opts->served_model_names,
                  "the model name(s) tools accept (default: the file name without .gguf)");
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("-c,--ctx-size", opts->context, "context size in tokens (default: the model's)")
      ->check(CLI::Range(0, 1 << 22));
  add_kv_cache_dtype_option(cmd, opts->kv_dtype);
  cmd->callback([opts, &exit_code] {
    auto resolved = resolve_model_arg(opts->model);
    if (!resolved) {
      exit_code = 1;
      return;
    }
    // A stored model is served under its store name unless told otherwise.
    if (resolved->from_store && opts->served_model_names.empty())
      opts->served_model_names.push_back(resolved->manifest.name);
    exit_code = serve_stdio(*opts);
  });
}

}  // namespace kiln::cli
