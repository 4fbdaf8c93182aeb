// The routes: an HttpHandler that checks keys, parses bodies, submits generations to the
// engine and answers /health, /metrics, /v1/models, /tokenize, ... A request runs on the
// model it names, through a lease from the ModelRegistry; a model that must load first
// defers the answer (DeferredResult) instead of holding an HTTP thread. The Api also holds
// the server's life cycle as the routes see it: loading (503 until set_models), ready,
// draining (503 for new work while running requests finish). Thread-safe: handle() runs on
// many strands at once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/admission.h"
#include "server/http/auth.h"
#include "server/limits/key_registry.h"
#include "server/errors.h"
#include "server/generation_job.h"
#include "server/http/http_types.h"
#include "server/json_util.h"
#include "server/models/model_registry.h"
#include "server/ollama/store_routes.h"
#include "server/responses/mcp_tools.h"
#include "server/responses/store.h"

namespace kiln::server {

struct ApiOptions {
  std::vector<std::string> api_keys;  // empty: no key needed
  std::string api_keys_file;          // --api-keys-file: named keys with limits (server/limits/)
  std::string metrics_prefix = "kiln";  // --metrics-prefix (the per-key series)
  ResponseStoreOptions responses;     // --responses-store-max, --responses-store-ttl
  McpOptions mcp;  // --mcp-config, --mcp-timeout, --max-tool-turns (responses/mcp_tools.h)
};

class Api final : public HttpHandler {
 public:
  explicit Api(ApiOptions options);
  ~Api() override;

  // Start serving the registry's models (its start-up loads are done). Called once;
  // `models` outlives the Api's use.
  void set_models(ModelRegistry& models, store::ModelStore& store);
  // Refuse new work (503) and fail /health, so load balancers stop sending any.
  void start_draining();
  // Reads --api-keys-file (at start: a bad file is an error) or re-reads it (SIGHUP: a bad
  // file keeps the current keys; the error says why).
  Status load_api_keys();
  Status reload_api_keys();
  // Generations whose responses are still being produced or written.
  size_t num_active_jobs();
  // Cancels every active generation; each ends with a 503 (or its stream's error event).
  void abort_active_jobs();

  HandlerResult handle(const HttpRequest& request) override;
  HttpReply reject(int status, std::string_view target, const std::string& message) override;
  void on_done(const HttpRequest& request, int status, std::string_view note, double seconds,
               bool client_gone) override;

 private:
  enum class State { kLoading, kReady, kDraining };

  using ModelWork = std::function<HandlerResult(const ModelLease&)>;

  HandlerResult route(const HttpRequest& request);
  // Runs `work` on the model `name`: at once when it is loaded, once it has loaded otherwise.
  HandlerResult with_model(const HttpRequest& request, std::string_view name, ApiFlavor flavor,
                           ModelWork work);
  // The same for a JSON body naming its model in "model" (a 400 when it does not).
  HandlerResult with_body_model(const HttpRequest& request, ApiFlavor flavor,
                                std::function<HandlerResult(const Json&, const ModelLease&)> work);
  HandlerResult chat_completions(const Json& body, const ModelLease& model);
  HandlerResult completions(const Json& body, const ModelLease& model);
  HandlerResult messages(const Json& body, const ModelLease& model, bool count_tokens);
  // /v1/responses (POST) and /v1/responses/{id} (GET, DELETE).
  HandlerResult responses(const HttpRequest& request, bool draining);
  // /mcp: MCP's streamable HTTP transport (POST only; the protocol is in server/mcp/), on the
  // default model.
  HandlerResult mcp_endpoint(const HttpRequest& request, bool draining);
  HandlerResult mcp_message(const std::string& text, bool event_stream, const ModelLease& model);
  // Ollama's API under /api/ (server/ollama/).
  HandlerResult ollama(const HttpRequest& request, bool draining);
  HandlerResult ollama_generate(const HttpRequest& request, bool chat);
  // The routes routers and SGLang-style clients call (server/router/): render, /get_load,
  // /get_server_info, /get_model_info, /health_generate, /version.
  static bool is_router_path(std::string_view path);
  HandlerResult router_routes(const HttpRequest& request, bool draining);
  HttpReply models(const std::string& id);
  HttpReply metrics();
  HandlerResult start_generation(const ModelLease& model, std::vector<GenerationRequest> requests,
                                 std::unique_ptr<ResponseFormatter> formatter, bool stream,
                                 ApiFlavor flavor, std::string_view prompt_param);

  const ApiOptions options_;
  limits::KeyRegistry keys_;
  std::atomic<State> state_{State::kLoading};
  ModelRegistry* models_ = nullptr;  // set once, before state_ becomes kReady
  std::unique_ptr<ollama::StoreRoutes> store_routes_;  // likewise
  ResponseStore responses_store_;

  std::mutex jobs_mu_;
  std::vector<std::weak_ptr<GenerationJob>> jobs_;  // live while their connection holds them
};

}  // namespace kiln::server
