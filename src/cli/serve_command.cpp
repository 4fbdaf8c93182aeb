// `kiln serve MODEL...`: the OpenAI-, Anthropic- and Ollama-compatible HTTP server
// (src/server/) in front of the engine. It listens first, so /health can say 503 while the
// first model loads, then loads it and serves until SIGTERM or SIGINT, which drain it (exit
// code 0). Further models load when a request names them and unload after --keep-alive.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <csignal>

#include <CLI/CLI.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/engine_setup.h"
#include "cli/model_arg.h"
#include "cli/model_context_setup.h"
#include "cli/serve_config.h"
#include "engine/kv_sizing.h"
#include "mcp_client/config.h"
#include "mcp_client/server_pool.h"
#include "server/http/cors.h"
#include "server/log_format.h"
#include "server/models/keep_alive.h"
#include "server/models/store_specs.h"
#include "store/model_store.h"
#include "server/server.h"
#include "tool_calls/tool_call_format.h"

namespace kiln::cli {
namespace {

struct ServeOptions {
  std::vector<std::string> models;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::vector<std::string> api_keys;
  std::string api_keys_file;
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
  std::string mcp_config;  // empty: no MCP servers of kiln's own
  double mcp_timeout = 60;
  int max_tool_turns = 8;
  std::string metrics_prefix = "kiln";
  std::string keep_alive;  // empty: forever for models named here
  int max_loaded_models = 3;
  std::string max_loaded_memory;  // empty: no limit
  std::string log_format = "text";
  std::string config_file;
  std::string ssl_keyfile, ssl_certfile;
  std::vector<std::string> allowed_origins, allowed_methods{"*"}, allowed_headers{"*"};
  bool allow_credentials = false;
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

// The models named on the command line (files or store names); with none, every model in
// the store. The first named takes --served-model-name's names.
std::optional<std::vector<server::ModelSpec>> model_specs(ServeOptions& o,
                                                          const store::ModelStore& store,
                                                          double keep_alive_seconds) {
  if (o.models.empty()) return server::specs_for_store(store, keep_alive_seconds);
  std::vector<server::ModelSpec> specs;
  for (size_t i = 0; i < o.models.size(); ++i) {
    auto resolved = resolve_model_arg(o.models[i]);
    if (!resolved) return std::nullopt;
    auto spec = server::spec_for_resolved(*resolved, keep_alive_seconds);
    if (!spec.ok()) {
      print_error(spec.message());
      return std::nullopt;
    }
    if (i == 0 && !o.served_model_names.empty()) {
      spec->name = o.served_model_names.front();
      spec->aliases.assign(o.served_model_names.begin() + 1, o.served_model_names.end());
    }
    specs.push_back(std::move(spec).value());
  }
  return specs;
}

// How the registry loads a model: the engine with this command's flags, and its context.
server::ModelLoader model_loader(const ServeOptions& o) {
  return [o](const server::ModelSpec& spec) -> StatusOr<server::LoadedModel> {
    auto engine = create_engine(spec.path, o.threads, o.engine, /*log_kv=*/true);
    if (!engine.ok()) return engine.status();
    std::vector<std::string> names = {spec.name};
    names.insert(names.end(), spec.aliases.begin(), spec.aliases.end());
    auto ctx = build_model_context(**engine, spec.path, names, o.tool_call_parser,
                                   o.engine.max_num_seqs);
    if (!ctx.ok()) return ctx.status();
    // A Modelfile's TEMPLATE (a Jinja chat template) replaces the file's.
    if (spec.defaults.contains("template")) {
      auto tmpl = chat::ChatTemplate::parse(spec.defaults["template"].get<std::string>());
      if (!tmpl.ok()) return Status::Error(spec.name + ": TEMPLATE: " + tmpl.message());
      if (o.tool_call_parser.empty())
        ctx->tool_call_format = tool_calls::detect_tool_call_format(tmpl->source());
      ctx->chat_template = std::move(tmpl).value();
    }
    server::LoadedModel loaded;
    loaded.memory_bytes =
        spec.file_bytes + (*engine)->kv_budget.bytes + (*engine)->draft_memory_bytes;
    loaded.context = std::move(ctx).value();
    loaded.owner = std::shared_ptr<RunningEngine>(std::move(engine).value());
    return loaded;
  };
}

int serve(ServeOptions& o) {
  // /api/pull writes files: past a file-size limit a write must fail, not kill the server.
  signal(SIGXFSZ, SIG_IGN);
  if (Status s = server::configure_log_format(o.log_format); !s.ok()) {
    print_error(s.message());
    return 2;
  }
  raise_open_file_limit();
  server::ServerOptions so;
  so.host = o.host;
  so.port = (uint16_t)o.port;
  so.num_io_threads = o.io_threads;
  so.drain_timeout_seconds = o.drain_timeout;
  so.api.api_keys = o.api_keys;
  so.api.api_keys_file = o.api_keys_file;
  so.api.metrics_prefix = o.metrics_prefix;
  so.api.responses.max_responses = (size_t)o.responses_store_max;
  so.api.responses.ttl_seconds = o.responses_store_ttl;
  so.api.mcp.timeout_seconds = o.mcp_timeout;
  so.api.mcp.max_tool_turns = o.max_tool_turns;
  if (!o.mcp_config.empty()) {
    auto servers = mcp_client::read_mcp_config_file(o.mcp_config);
    if (!servers.ok()) {
      print_error("--mcp-config " + servers.message());
      return 2;
    }
    // Connected on first use: a broken server costs the requests that need it, not start-up.
    so.api.mcp.pool = std::make_shared<mcp_client::ServerPool>(std::move(*servers), o.mcp_timeout);
  }
  auto body = byte_size_flag("--max-body-size", o.max_body_size);
  auto header = byte_size_flag("--max-header-size", o.max_header_size);
  if (!body || !header) return 2;
  so.http.max_body_bytes = *body;
  so.http.max_header_bytes = *header;
  so.http.cors.allowed_origins = server::split_list_flag(o.allowed_origins);
  so.http.cors.allowed_methods = server::split_list_flag(o.allowed_methods);
  so.http.cors.allowed_headers = server::split_list_flag(o.allowed_headers);
  so.http.cors.allow_credentials = o.allow_credentials;
  so.http.tls_keyfile = o.ssl_keyfile;
  so.http.tls_certfile = o.ssl_certfile;
  if (o.ssl_keyfile.empty() != o.ssl_certfile.empty()) {
    print_error("--ssl-keyfile and --ssl-certfile go together");
    return 2;
  }

  server::ModelRegistryOptions ro;
  ro.max_loaded_models = o.max_loaded_models;
  ro.max_queue = o.max_queue;
  ro.metrics_prefix = o.metrics_prefix;
  if (!o.max_loaded_memory.empty()) {
    auto bytes = byte_size_flag("--max-loaded-memory", o.max_loaded_memory);
    if (!bytes) return 2;
    ro.max_loaded_bytes = (int64_t)*bytes;
  }
  // Models named here stay until the server stops unless told; a whole store is served as
  // Ollama serves it, each model unloaded after 5 idle minutes.
  double keep_alive = o.models.empty() ? 300 : -1;
  if (!o.keep_alive.empty()) {
    auto seconds = server::parse_keep_alive(o.keep_alive);
    if (!seconds.ok()) {
      print_error("--keep-alive: " + seconds.message());
      return 2;
    }
    keep_alive = *seconds;
  }
  store::ModelStore store(store::ModelStore::default_root());
  auto specs = model_specs(o, store, keep_alive);
  if (!specs) return 1;

  // Declared before the server so that it is destroyed after it: the server's connections
  // cancel their requests in the engine as they close.
  server::ModelRegistry registry(std::move(*specs), model_loader(o), ro);
  server::Server server(so);
  if (Status s = server.start(); !s.ok()) {
    print_error(s.message());
    return 1;
  }
  const char* scheme = o.ssl_certfile.empty() ? "http" : "https";
  const std::string first = o.models.empty() ? "" : registry.default_model();
  spdlog::info("listening on {}://{}:{}{}", scheme, o.host, server.port(),
               first.empty() ? "" : " (loading " + first + ")");

  const auto load_start = std::chrono::steady_clock::now();
  if (!first.empty()) {
    if (Status s = registry.load_blocking(first); !s.ok()) {
      print_error(s.message());
      return 1;
    }
  }
  server.set_models(registry, store);
  const std::string what =
      first.empty() ? "the store's " + std::to_string(registry.specs().size()) + " models (" +
                          store.root() + ")"
                    : "'" + first + "'" +
                          (o.models.size() > 1
                               ? " and " + std::to_string(o.models.size() - 1) + " more"
                               : "");
  spdlog::info("ready in {:.1f}s: serving {} on {}://{}:{}{}",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count(),
               what, scheme, o.host, server.port(),
               o.api_keys.empty() && o.api_keys_file.empty() ? "" : " (API key required)");

  server.run_until_signal();
  return 0;
}

}  // namespace

void register_serve_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a model over HTTP: OpenAI- and Anthropic-compatible API (docs/api.md)");
  cmd->add_option("model", opts->models,
                  "GGUF file(s) or store names; the first loads at start, the others when a "
                  "request names them (none: every model in the store, each loaded on request)");
  cmd->add_option("--host", opts->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", opts->api_keys,
                  "require this key (Authorization: Bearer KEY or x-api-key: KEY); repeatable")
      ->envname("KILN_API_KEY");
  cmd->add_option("--api-keys-file", opts->api_keys_file,
                  "JSON file of named API keys with optional limits (requests_per_minute, "
                  "tokens_per_minute, max_concurrent_requests, models); re-read on SIGHUP "
                  "(docs/operations.md)")
      ->check(CLI::ExistingFile);
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
  cmd->add_option("--mcp-config", opts->mcp_config,
                  "MCP servers whose tools /v1/responses offers the model, in the common "
                  "{\"mcpServers\": {NAME: {\"command\", \"args\", \"env\"} | {\"url\", "
                  "\"headers\"}}} file; kiln calls the tools the model calls")
      ->check(CLI::ExistingFile);
  cmd->add_option("--mcp-timeout", opts->mcp_timeout,
                  "seconds an MCP server gets to answer each request (connect, list, call)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--max-tool-turns", opts->max_tool_turns,
                  "rounds of MCP tool calls one response may make before it ends incomplete")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
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
  cmd->add_option("--keep-alive", opts->keep_alive,
                  "how long an idle model stays loaded: 30s, 5m, 1h, 0 (unload at once) or -1 "
                  "(forever, the default for models named here); requests may set their own "
                  "(Ollama's keep_alive)");
  cmd->add_option("--max-loaded-models", opts->max_loaded_models,
                  "models loaded at once; loading one more unloads the least recently used idle "
                  "one (0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--max-loaded-memory", opts->max_loaded_memory,
                  "memory loaded models may hold (weights and KV cache, e.g. 8GiB); loading past "
                  "it unloads the least recently used idle model first");
  cmd->add_option("--log-format", opts->log_format,
                  "text, or json: one JSON object per log line (the access log's fields as keys)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  cmd->add_option("--ssl-keyfile", opts->ssl_keyfile, "TLS private key (PEM): serve https")
      ->check(CLI::ExistingFile);
  cmd->add_option("--ssl-certfile", opts->ssl_certfile, "TLS certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--allowed-origins", opts->allowed_origins,
                  "CORS: browser origins allowed to call the API (repeatable or comma-separated; "
                  "* for any; default: none, no CORS headers)");
  cmd->add_option("--allowed-methods", opts->allowed_methods,
                  "CORS: methods a preflight may ask for (default *)");
  cmd->add_option("--allowed-headers", opts->allowed_headers,
                  "CORS: request headers a preflight may ask for (default *)");
  cmd->add_flag("--allow-credentials", opts->allow_credentials,
                "CORS: Access-Control-Allow-Credentials: true");
  add_engine_flags(cmd, opts->engine);
  // Any flag above from a file; the command line wins (cli/serve_config.h for the formats).
  cmd->add_option("--config", opts->config_file,
                  "read serve flags from a YAML, JSON or TOML file (docs/operations.md)")
      ->check(CLI::ExistingFile);
  cmd->callback([cmd, opts, &exit_code] {
    if (!opts->config_file.empty()) apply_config_file(*cmd, opts->config_file);
    exit_code = serve(*opts);
  });
}

}  // namespace kiln::cli
