// The routes: an HttpHandler that checks keys, parses bodies, submits generations to the
// engine and answers /health, /metrics, /v1/models, /tokenize, ... It also holds the server's
// life cycle as the routes see it: loading (503 until set_model), ready, draining (503 for new
// work while running requests finish). Thread-safe: handle() runs on many strands at once.
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
#include "server/mcp/dispatcher.h"
#include "server/metrics.h"
#include "server/model_context.h"
#include "server/responses/store.h"

namespace kiln::server {

struct ApiOptions {
  std::vector<std::string> api_keys;  // empty: no key needed
  std::string api_keys_file;          // --api-keys-file: named keys with limits (server/limits/)
  int64_t max_queue = 1024;           // sequences that may wait beyond --max-num-seqs
  ResponseStoreOptions responses;     // --responses-store-max, --responses-store-ttl
  std::string metrics_prefix = "kiln";  // --metrics-prefix
};

class Api final : public HttpHandler {
 public:
  explicit Api(ApiOptions options);
  ~Api() override;

  // The model is loaded: start serving it. Called once; `model` outlives the Api's use.
  void set_model(ModelContext model);
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

  HandlerResult route(const HttpRequest& request);
  HandlerResult chat_completions(const HttpRequest& request);
  HandlerResult completions(const HttpRequest& request);
  HandlerResult messages(const HttpRequest& request, bool count_tokens);
  // /v1/responses (POST) and /v1/responses/{id} (GET, DELETE).
  HandlerResult responses(const HttpRequest& request, bool draining);
  // /mcp: MCP's streamable HTTP transport (POST only; the protocol is in server/mcp/).
  HandlerResult mcp_endpoint(const HttpRequest& request, bool draining);
  HttpReply models(const std::string& id);
  HttpReply metrics();
  HandlerResult start_generation(std::vector<GenerationRequest> requests,
                                 std::unique_ptr<ResponseFormatter> formatter, bool stream,
                                 ApiFlavor flavor, std::string_view prompt_param);

  const ApiOptions options_;
  limits::KeyRegistry keys_;
  std::atomic<State> state_{State::kLoading};
  std::unique_ptr<ModelContext> model_;   // set once, before state_ becomes kReady
  std::unique_ptr<Admission> admission_;  // likewise
  std::unique_ptr<mcp::Dispatcher> mcp_;  // likewise
  ServerMetrics metrics_;
  ResponseStore responses_store_;

  std::mutex jobs_mu_;
  std::vector<std::weak_ptr<GenerationJob>> jobs_;  // live while their connection holds them
};

}  // namespace kiln::server
