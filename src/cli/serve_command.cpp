// `kiln serve MODEL`: the OpenAI- and Anthropic-compatible HTTP server (src/server/) in front
// of the engine. It listens first, so /health can say 503 while the model loads, then loads
// the model and serves until SIGTERM or SIGINT, which drain it (exit code 0).
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/model_arg.h"
#include "cli/engine_setup.h"
#include "cli/model_context_setup.h"
#include "engine/kv_sizing.h"
#include "server/server.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  std::vector<std::string> served_model_names;
  int threads = 0;
  int io_threads = 2;
  int64_t max_queue = 1024;
  double drain_timeout = 30;
  std::string max_body_size = "16MiB";
  std::string max_header_size = "16KiB";
  std::string tool_call_parser;  // empty: from the chat template
  int64_t responses_store_max = 1000;
  double responses_store_ttl = 3600;
  std::string metrics_prefix = "kiln";
  EngineFlags engine;
};

std::optional<size_t> byte_size_flag(const std::string& flag, const std::string& text) {
  auto bytes = parse_byte_size(text);
  if (!bytes.ok() || *bytes <= 0) {
    print_error(flag + ": " + (bytes.ok() ? "must be positive" : bytes.message()));
    return std::nullopt;
  }
  return (size_t)*bytes;
}

// Each connection is a file descriptor; the usual soft limit of 1024 would cap the server
// far below the thousands of streaming connections it is built to hold.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) spdlog::warn("could not raise the open-file limit");
}

int serve(const ServeOptions& o) {
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] %^%l%$: %v");
  raise_open_file_limit();
  server::ServerOptions so;
  so.host = o.host;
  so.port = (uint16_t)o.port;
  so.num_io_threads = o.io_threads;
  so.drain_timeout_seconds = o.drain_timeout;
  so.api.api_keys = o.api_keys;
  so.api.max_queue = o.max_queue;
  so.api.responses.max_responses = (size_t)o.responses_store_max;
  so.api.responses.ttl_seconds = o.responses_store_ttl;
  so.api.metrics_prefix = o.metrics_prefix;
  auto body = byte_size_flag("--max-body-size", o.max_body_size);
  auto header = byte_size_flag("--max-header-size", o.max_header_size);
  if (!body || !header) return 2;
  so.http.max_body_bytes = *body;
  so.http.max_header_bytes = *header;

  // Declared before the server so that it is destroyed after it: the server's connections
  // cancel their requests in the engine as they close.
  std::unique_ptr<RunningEngine> engine;
  server::Server server(so);
  if (Status s = server.start(); !s.ok()) {
    print_error(s.message());
    return 1;
  }
  spdlog::info("listening on http://{}:{} (loading {})", o.host, server.port(), o.model);

  const auto load_start = std::chrono::steady_clock::now();
  engine = start_engine(o.model, o.threads, o.engine, /*log_kv=*/true);
  if (!engine) return 1;
  auto ctx = make_model_context(*engine, o.model, o.served_model_names, o.tool_call_parser,
                                o.engine.max_num_seqs);
  if (!ctx) return 1;
  const std::string name = ctx->name();
  server.set_model(std::move(*ctx));
  spdlog::info("ready in {:.1f}s: serving '{}' on http://{}:{}{}",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count(),
               name, o.host, server.port(), o.api_keys.empty() ? "" : " (API key required)");

  server.run_until_signal();
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a model over HTTP: OpenAI- and Anthropic-compatible API (docs/api.md)");
  cmd->add_option("model", opts->model, "GGUF model file or model name in the store")->required();
  cmd->add_option("--host", opts->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", opts->api_keys,
                  "require this key (Authorization: Bearer KEY or x-api-key: KEY); repeatable")
      ->envname("KILN_API_KEY");
  cmd->add_option("--tool-call-parser", opts->tool_call_parser,
                  "how the model writes tool calls: hermes, llama3_json, mistral or "
                  "mistral_v11 (default: from its chat template, else hermes)")
      ->check([](const std::string& name) {
        auto f = tool_calls::parse_tool_call_format_name(name);
        return f.ok() ? std::string() : f.message();
      });
  cmd->add_option("--served-model-name", opts->served_model_names,
                  "the model name(s) clients use (default: the file name without .gguf)");
  cmd->add_option("-t,--threads", opts->threads, "compute threads (default: all cores)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--io-threads", opts->io_threads, "threads serving HTTP connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-queue", opts->max_queue,
                  "sequences that may wait beyond --max-num-seqs; past that, 429")
      ->capture_default_str()
      ->check(CLI::Range((int64_t)0, (int64_t)1 << 30));
  cmd->add_option("--responses-store-max", opts->responses_store_max,
                  "responses kept for previous_response_id and GET /v1/responses/{id}; the "
                  "oldest go first (0: none kept)")
      ->capture_default_str()
      ->check(CLI::Range((int64_t)0, (int64_t)1 << 24));
  cmd->add_option("--responses-store-ttl", opts->responses_store_ttl,
                  "seconds a stored response is kept")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 30.0 * 86400));
  cmd->add_option("--metrics-prefix", opts->metrics_prefix,
                  "namespace of the /metrics names: kiln (kiln:num_requests_running, ...) or vllm "
                  "(vLLM's own names, for its dashboards and the Gateway API Inference Extension)")
      ->capture_default_str()
      ->check(CLI::IsMember({"kiln", "vllm"}));
  cmd->add_option("--drain-timeout", opts->drain_timeout,
                  "seconds running requests get to finish after SIGTERM before they are cancelled")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--max-body-size", opts->max_body_size, "largest request body (413 beyond)")
      ->capture_default_str();
  cmd->add_option("--max-header-size", opts->max_header_size, "largest request head (431 beyond)")
      ->capture_default_str();
  add_engine_flags(cmd, opts->engine);
  cmd->callback([opts, &exit_code] {
    auto resolved = resolve_model_arg(opts->model);
    if (!resolved) {
      exit_code = 1;
      return;
    }
    // A stored model is served under its store name unless told otherwise.
    if (resolved->from_store && opts->served_model_names.empty())
      opts->served_model_names.push_back(resolved->manifest.name);
    exit_code = serve(*opts);
  });
}

}  // namespace kiln::cli
