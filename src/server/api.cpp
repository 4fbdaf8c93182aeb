#include "server/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/anthropic/messages.h"
#include "server/json_fields.h"
#include "server/limits/request_limits.h"
#include "server/log_format.h"
#include "server/mcp/dispatcher.h"
#include "server/mcp/http_route.h"
#include "server/mcp/jsonrpc.h"
#include "server/ollama/formatter.h"
#include "server/ollama/models_routes.h"
#include "server/ollama/request.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/openapi.h"
#include "server/openai/tokenize_routes.h"
#include "server/responses/formatter.h"
#include "server/responses/request.h"
#include "server/responses/routes.h"
#include "server/responses/tool_loop.h"
#include "server/router/render.h"
#include "server/router/worker_info.h"

namespace kiln::server {
namespace {

HttpReply json_reply(const Json& body) {
  HttpReply r;
  r.body = dump_json(body);
  return r;
}

// OpenAI's model object, with vLLM's root and max_model_len (known once the model loaded).
Json model_json(const ModelSpec& spec, const std::string& id, const LoadedModelInfo* loaded) {
  Json m = {{"id", id},
            {"object", "model"},
            {"created", loaded ? loaded->loaded_at : spec.modified},
            {"owned_by", "kiln"},
            {"root", spec.name},
            {"parent", nullptr}};
  if (loaded) m["max_model_len"] = loaded->context_length;
  return m;
}

HttpReply text_reply(std::string content_type, std::string body) {
  HttpReply r;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

// The key of the request being handled on this thread (null: none, or keys are off).
// handle() runs a request from start to end on one thread, so this hands the key down to
// the model check and start_generation without widening every route's signature.
thread_local std::shared_ptr<limits::KeyState> t_request_key;

struct RequestKeyScope {
  explicit RequestKeyScope(std::shared_ptr<limits::KeyState> key) {
    t_request_key = std::move(key);
  }
  ~RequestKeyScope() { t_request_key.reset(); }
};

HttpReply method_not_allowed(std::string_view allowed, ApiFlavor flavor) {
  ApiError e;
  e.status = 405;
  e.message = "method not allowed; use " + std::string(allowed);
  HttpReply r = error_reply(e, flavor);
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

// A request whose model is loading: answered once the registry has loaded it (or failed to).
class ModelLoadWait final : public DeferredResult {
 public:
  ModelLoadWait(std::shared_ptr<ModelWaiter> waiter, ApiFlavor flavor,
                std::function<HandlerResult(const ModelLease&)> work)
      : waiter_(std::move(waiter)), flavor_(flavor), work_(std::move(work)) {}

  void start(std::function<void()> wake) override { waiter_->set_wake(std::move(wake)); }

  bool resolve(HandlerResult& out) override {
    auto outcome = waiter_->take();
    if (!outcome) return false;
    if (auto* error = std::get_if<ApiError>(&*outcome)) {
      out = error_reply(*error, flavor_);
    } else {
      out = work_(std::get<ModelLease>(*outcome));
    }
    return true;
  }

  void cancel() override { waiter_->cancel(); }

 private:
  const std::shared_ptr<ModelWaiter> waiter_;
  const ApiFlavor flavor_;
  const std::function<HandlerResult(const ModelLease&)> work_;
};

}  // namespace

Api::Api(ApiOptions options)
    : options_(std::move(options)),
      keys_(options_.api_keys, options_.api_keys_file),
      responses_store_(options_.responses) {}

Api::~Api() = default;

void Api::set_models(ModelRegistry& models, store::ModelStore& store) {
  models_ = &models;
  store_routes_ = std::make_unique<ollama::StoreRoutes>(store, models);
  State expected = State::kLoading;
  // A drain that began while loading stays a drain.
  state_.compare_exchange_strong(expected, State::kReady);
}

Status Api::load_api_keys() { return keys_.load(); }
Status Api::reload_api_keys() { return keys_.reload(); }

void Api::start_draining() { state_ = State::kDraining; }

size_t Api::num_active_jobs() {
  std::lock_guard lock(jobs_mu_);
  std::erase_if(jobs_, [](const auto& job) { return job.expired(); });
  return jobs_.size();
}

void Api::abort_active_jobs() {
  std::vector<std::shared_ptr<GenerationJob>> live;
  {
    std::lock_guard lock(jobs_mu_);
    for (const auto& weak : jobs_)
      if (auto job = weak.lock()) live.push_back(std::move(job));
  }
  for (const auto& job : live) job->abort_for_shutdown();
}

HandlerResult Api::handle(const HttpRequest& request) {
  RequestKeyScope key_scope(keys_.enabled() ? keys_.identify(request) : nullptr);
  HandlerResult result = route(request);
  if (t_request_key) limits::add_headers(result, *t_request_key, request.path, keys_.now());
  // While draining, nothing keeps the connection: the process is about to exit.
  if (state_ == State::kDraining)
    if (auto* reply = std::get_if<HttpReply>(&result)) reply->close = true;
  return result;
}

HttpReply Api::reject(int status, std::string_view target, const std::string& message) {
  ApiError e;
  e.status = status;
  e.message = message;
  HttpReply r = error_reply(e, flavor_for_path(target));
  r.close = true;
  return r;
}

void Api::on_done(const HttpRequest& request, int status, std::string_view note, double seconds,
                  bool client_gone) {
  log_access({.method = request.method,
              .target = request.target,
              .remote = request.remote,
              .request_id = request.request_id,
              .note = note,
              .status = status,
              .seconds = seconds,
              .client_gone = client_gone});
}

HandlerResult Api::route(const HttpRequest& req) {
  const std::string& path = req.path;
  const ApiFlavor flavor = flavor_for_path(path);
  const bool get = req.method == "GET", post = req.method == "POST";
  const State state = state_.load();

  if (path == "/health") {
    if (!get) return method_not_allowed("GET", flavor);
    if (state == State::kReady) return text_reply("text/plain", "");
    return error_reply(
        ApiError::unavailable(state == State::kLoading ? "the model is loading"
                                                       : "the server is shutting down"),
        flavor);
  }
  if (path == "/openapi.json") {
    if (!get) return method_not_allowed("GET", flavor);
    return text_reply("application/json", openapi_document());
  }
  if (path_needs_key(path) && keys_.enabled() && !t_request_key)
    return error_reply(ApiError::unauthorized(), flavor);
  if (state == State::kLoading)
    return error_reply(ApiError::unavailable("the model is loading"), flavor);
  if (t_request_key && path_needs_key(path))
    if (auto refused = limits::check_model(*t_request_key, req, models_->default_model()))
      return error_reply(*refused, flavor);

  if (path == "/metrics") {
    if (!get) return method_not_allowed("GET", flavor);
    return metrics();
  }
  if (path == "/v1/models") {
    if (!get) return method_not_allowed("GET", flavor);
    return models("");
  }
  if (path.starts_with("/v1/models/")) {
    if (!get) return method_not_allowed("GET", flavor);
    return models(path.substr(std::string_view("/v1/models/").size()));
  }
  if (path == "/tokenize" || path == "/detokenize") {
    if (!post) return method_not_allowed("POST", flavor);
    auto body = parse_json_object(req.body);
    if (!body.ok()) return error_reply(body.error(), flavor);
    // vLLM's "model" is optional here: the default model then.
    std::string name = models_->default_model();
    if (body->contains("model") && (*body)["model"].is_string()) name = (*body)["model"];
    const bool encode = path == "/tokenize";
    return with_model(req, name, flavor, [body = std::move(*body), encode, flavor](const ModelLease& m) {
      auto result = encode ? tokenize(body, m->context()) : detokenize(body, m->context());
      if (!result.ok()) return HandlerResult(error_reply(result.error(), flavor));
      return HandlerResult(json_reply(*result));
    });
  }

  if (is_router_path(path)) return router_routes(req, state == State::kDraining);

  if (path == "/" && (get || req.method == "HEAD"))  // Ollama's clients probe it
    return text_reply("text/plain; charset=utf-8", get ? "Ollama is running" : "");
  if (path.starts_with("/api/")) return ollama(req, state == State::kDraining);
  if (path == "/v1/responses" || path.starts_with("/v1/responses/"))
    return responses(req, state == State::kDraining);
  if (path == "/mcp") return mcp_endpoint(req, state == State::kDraining);

  const bool generation = path == "/v1/chat/completions" || path == "/v1/completions" ||
                          path == "/v1/messages" || path == "/v1/messages/count_tokens";
  if (!generation) {
    return error_reply(ApiError::not_found("no route for " + req.method + " " + path), flavor);
  }
  if (!post) return method_not_allowed("POST", flavor);
  if (state == State::kDraining && path != "/v1/messages/count_tokens")
    return error_reply(ApiError::unavailable("the server is shutting down"), flavor);
  if (path == "/v1/chat/completions")
    return with_body_model(req, flavor, [this](const Json& body, const ModelLease& m) {
      return chat_completions(body, m);
    });
  if (path == "/v1/completions")
    return with_body_model(req, flavor, [this](const Json& body, const ModelLease& m) {
      return completions(body, m);
    });
  const bool count_tokens = path == "/v1/messages/count_tokens";
  return with_body_model(req, flavor, [this, count_tokens](const Json& body, const ModelLease& m) {
    return messages(body, m, count_tokens);
  });
}

HandlerResult Api::with_model(const HttpRequest& req, std::string_view name, ApiFlavor flavor,
                              ModelWork work) {
  ModelRegistry::Acquired acquired = models_->acquire(name);
  if (auto* error = std::get_if<ApiError>(&acquired)) return error_reply(*error, flavor);
  if (auto* lease = std::get_if<ModelLease>(&acquired)) return work(*lease);
  // The work runs later, on the connection's strand, outside handle(): it takes the
  // request's key along for the key's budgets, and adds the rate-limit headers itself.
  ModelWork deferred = [this, key = t_request_key, path = req.path,
                        work = std::move(work)](const ModelLease& m) {
    RequestKeyScope scope(key);
    HandlerResult result = work(m);
    if (key) limits::add_headers(result, *key, path, keys_.now());
    return result;
  };
  return std::make_shared<ModelLoadWait>(std::get<std::shared_ptr<ModelWaiter>>(acquired), flavor,
                                         std::move(deferred));
}

HandlerResult Api::with_body_model(
    const HttpRequest& req, ApiFlavor flavor,
    std::function<HandlerResult(const Json&, const ModelLease&)> work) {
  auto body = parse_json_object(req.body);
  if (!body.ok()) return error_reply(body.error(), flavor);
  FieldReader f(*body);
  f.require("model");
  const std::string name = f.string("model").value_or("");
  if (!f.ok()) return error_reply(f.error(), flavor);
  return with_model(req, name, flavor,
                    [body = std::move(*body), work = std::move(work)](const ModelLease& m) {
                      return work(body, m);
                    });
}

HandlerResult Api::chat_completions(const Json& body, const ModelLease& m) {
  auto parsed = parse_chat_completion_request(body, m->context());
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kOpenAI);
  ResponseMeta meta{random_id("chatcmpl-"), unix_seconds(), parsed->model};
  auto formatter = make_chat_formatter(*parsed, *m->context().tokenizer, std::move(meta));
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(parsed->generation));
  return start_generation(m, std::move(requests), std::move(formatter), parsed->stream,
                          ApiFlavor::kOpenAI, "messages");
}

HandlerResult Api::completions(const Json& body, const ModelLease& m) {
  auto parsed = parse_completion_request(body, m->context());
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kOpenAI);
  ResponseMeta meta{random_id("cmpl-"), unix_seconds(), parsed->model};
  auto formatter = make_completion_formatter(*parsed, *m->context().tokenizer, std::move(meta));
  return start_generation(m, std::move(parsed->generations), std::move(formatter), parsed->stream,
                          ApiFlavor::kOpenAI, "prompt");
}

HandlerResult Api::messages(const Json& body, const ModelLease& m, bool count_tokens) {
  auto parsed = parse_messages_request(body, m->context(), count_tokens);
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kAnthropic);
  if (count_tokens) return json_reply({{"input_tokens", parsed->generation.prompt.size()}});
  ResponseMeta meta{random_id("msg_"), unix_seconds(), parsed->model};
  auto formatter = make_messages_formatter(*parsed, std::move(meta));
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(parsed->generation));
  return start_generation(m, std::move(requests), std::move(formatter), parsed->stream,
                          ApiFlavor::kAnthropic, "messages");
}

HandlerResult Api::responses(const HttpRequest& req, bool draining) {
  const std::string& path = req.path;
  if (path != "/v1/responses") {
    // Stored responses: reading and deleting them goes on while draining.
    const std::string id = path.substr(std::string_view("/v1/responses/").size());
    if (id.empty() || id.find('/') != std::string::npos)
      return error_reply(ApiError::not_found("no route for " + req.method + " " + path),
                         ApiFlavor::kOpenAI);
    if (req.method == "GET") return retrieve_response(responses_store_, id);
    if (req.method == "DELETE") return delete_response(responses_store_, id);
    return method_not_allowed("GET, DELETE", ApiFlavor::kOpenAI);
  }
  if (req.method != "POST") return method_not_allowed("POST", ApiFlavor::kOpenAI);
  if (draining)
    return error_reply(ApiError::unavailable("the server is shutting down"), ApiFlavor::kOpenAI);
  return with_body_model(req, ApiFlavor::kOpenAI, [this](const Json& body, const ModelLease& m) {
    auto parsed = parse_responses_request(body, m->context(), responses_store_, options_.mcp);
    if (!parsed.ok()) return HandlerResult(error_reply(parsed.error(), ApiFlavor::kOpenAI));
    ResponseMeta meta{random_id("resp_"), unix_seconds(), parsed->model};
    if (parsed->tool_loop) {
      // Later turns start on the connection's strand, outside handle(): they take the
      // request's key along, as a deferred model load does.
      auto start_turn = [this, m, key = t_request_key](GenerationRequest g,
                                                       std::unique_ptr<ResponseFormatter> f) {
        RequestKeyScope scope(key);
        std::vector<GenerationRequest> requests;
        requests.push_back(std::move(g));
        return start_generation(m, std::move(requests), std::move(f), /*stream=*/false,
                                ApiFlavor::kOpenAI, "input");
      };
      return HandlerResult(std::make_shared<ToolLoopJob>(
          std::move(*parsed), std::move(meta), &responses_store_, m->context(), m, options_.mcp,
          std::move(start_turn)));
    }
    auto formatter = make_responses_formatter(*parsed, std::move(meta), &responses_store_);
    std::vector<GenerationRequest> requests;
    requests.push_back(std::move(parsed->generation));
    return start_generation(m, std::move(requests), std::move(formatter), parsed->stream,
                            ApiFlavor::kOpenAI, "input");
  });
}

HandlerResult Api::mcp_endpoint(const HttpRequest& req, bool draining) {
  // No server-initiated stream (GET) and no sessions to end (DELETE): the spec lets a
  // server answer both with 405.
  if (req.method != "POST") return method_not_allowed("POST", ApiFlavor::kOpenAI);
  if (draining)
    return error_reply(ApiError::unavailable("the server is shutting down"), ApiFlavor::kOpenAI);
  const bool event_stream = mcp::accepts_event_stream(req.header("accept"));
  return with_model(req, models_->default_model(), ApiFlavor::kOpenAI,
                    [this, text = req.body, event_stream](const ModelLease& m) {
                      return mcp_message(text, event_stream, m);
                    });
}

HandlerResult Api::mcp_message(const std::string& text, bool event_stream, const ModelLease& m) {
  mcp::Step step = mcp::Dispatcher(m->context()).handle_text(text);
  if (step.reply) {
    HttpReply r = json_reply(*step.reply);
    // A message that could not be read as a request has no id to answer: a 400.
    if (step.reply->contains("error") && (*step.reply)["id"].is_null()) r.status = 400;
    return r;
  }
  if (!step.generation) {
    HttpReply accepted;  // notifications and client responses: 202 with no body
    accepted.status = 202;
    return accepted;
  }
  mcp::PendingGeneration& pending = *step.generation;
  const bool stream = !pending.progress_token.is_null() && event_stream;
  auto formatter = mcp::make_mcp_formatter(pending, stream);
  const Json id = pending.id;
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(pending.request));
  HandlerResult result = start_generation(m, std::move(requests), std::move(formatter), stream,
                                          ApiFlavor::kOpenAI, "prompt");
  // Refused before it ran (prompt too long, server at capacity): a tool error the calling
  // model can read, not an HTTP error its client would surface as a transport failure.
  if (auto* refused = std::get_if<HttpReply>(&result)) {
    Json error = Json::parse(refused->body, nullptr, false);
    std::string message = "the request was refused";
    if (error.is_object() && error.contains("error") && error["error"].is_object())
      message = error["error"].value("message", message);
    return json_reply(mcp::GenerationReply::refused(id, message));
  }
  return result;
}

HandlerResult Api::start_generation(const ModelLease& m, std::vector<GenerationRequest> requests,
                                    std::unique_ptr<ResponseFormatter> formatter, bool stream,
                                    ApiFlavor flavor, std::string_view prompt_param) {
  // A request that waited for its model may find the server draining by then.
  if (state_ == State::kDraining)
    return error_reply(ApiError::unavailable("the server is shutting down"), flavor);
  int64_t num_seqs = 0;
  for (const GenerationRequest& r : requests) num_seqs += std::max(1, r.sampling.n);
  std::optional<Admission::Ticket> ticket = m->admission.try_admit(num_seqs);
  if (!ticket) {
    m->metrics.on_rejected(ServerMetrics::Rejection::kCapacity);
    return error_reply(ApiError::rate_limited(
                           "the server is at capacity: " + std::to_string(m->admission.capacity()) +
                               " sequences running or queued (--max-num-seqs + --max-queue); "
                               "retry later",
                           1),
                       flavor);
  }
  // The key's budgets (server/limits/): the prompt's tokens now, completion tokens as they
  // are generated (the metered formatter), one concurrency slot until the job ends.
  const std::shared_ptr<limits::KeyState> key = t_request_key;
  int64_t prompt_tokens = 0;
  for (const GenerationRequest& r : requests) prompt_tokens += (int64_t)r.prompt.size();
  if (key) {
    if (auto refused = limits::admit(*key, prompt_tokens, keys_.now())) {
      m->metrics.on_rejected(ServerMetrics::Rejection::kKeyLimit);
      return error_reply(*refused, flavor);
    }
    formatter = limits::metered(std::move(formatter), key, keys_);
  }
  Engine& engine = m->engine();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (GenerationRequest& r : requests) {
    auto stream = engine.submit(std::move(r));
    if (!stream.ok()) {
      for (const auto& s : streams) engine.cancel(s->id());
      if (key) key->refund(prompt_tokens, keys_.now());  // the formatter frees its slot
      return error_reply(ApiError::from_validation(stream.message(), prompt_param), flavor);
    }
    streams.push_back(std::move(*stream));
  }
  auto job = std::make_shared<GenerationJob>(engine, m->metrics, std::move(streams),
                                             std::move(formatter), stream, flavor,
                                             std::move(*ticket), m);
  std::lock_guard lock(jobs_mu_);
  std::erase_if(jobs_, [](const auto& j) { return j.expired(); });
  jobs_.push_back(job);
  return job;
}

HandlerResult Api::ollama(const HttpRequest& req, bool draining) {
  const std::string& path = req.path;
  const bool get = req.method == "GET", post = req.method == "POST";
  constexpr ApiFlavor kOllama = ApiFlavor::kOllama;
  if (path == "/api/tags" || path == "/api/ps" || path == "/api/version") {
    if (!get) return method_not_allowed("GET", kOllama);
    if (path == "/api/tags") return json_reply(ollama::tags_json(*models_));
    if (path == "/api/ps") return json_reply(ollama::ps_json(*models_));
    return json_reply(ollama::version_json());
  }
  if (path == "/api/show") {
    if (!post) return method_not_allowed("POST", kOllama);
    auto body = parse_json_object(req.body);
    if (!body.ok()) return error_reply(body.error(), kOllama);
    auto shown = ollama::show_json(*models_, *body);
    if (!shown.ok()) return error_reply(shown.error(), kOllama);
    return json_reply(*shown);
  }
  if (path == "/api/pull" || path == "/api/copy" || path == "/api/create" ||
      path == "/api/delete") {
    const bool remove = path == "/api/delete";
    if (remove ? req.method != "DELETE" : !post)
      return method_not_allowed(remove ? "DELETE" : "POST", kOllama);
    if (draining) return error_reply(ApiError::unavailable("the server is shutting down"), kOllama);
    auto body = parse_json_object(req.body);
    if (!body.ok()) return error_reply(body.error(), kOllama);
    if (path == "/api/pull") return store_routes_->pull(*body);
    if (path == "/api/copy") return store_routes_->copy(*body);
    if (path == "/api/create") return store_routes_->create(*body);
    return store_routes_->remove(*body);
  }
  if (path == "/api/chat" || path == "/api/generate") {
    if (!post) return method_not_allowed("POST", kOllama);
    if (draining) return error_reply(ApiError::unavailable("the server is shutting down"), kOllama);
    return ollama_generate(req, path == "/api/chat");
  }
  if (path == "/api/embed" || path == "/api/embeddings")
    return error_reply(ApiError::bad_request("embeddings are not supported: kiln serves "
                                             "generative models only"),
                       kOllama);
  return error_reply(ApiError::not_found("no route for " + req.method + " " + path), kOllama);
}

HandlerResult Api::ollama_generate(const HttpRequest& req, bool chat) {
  const auto received = Clock::now();
  return with_body_model(req, ApiFlavor::kOllama, [this, chat, received](const Json& body,
                                                                           const ModelLease& m) {
    const ollama::OllamaTimes times{received, Clock::now()};
    auto parsed = ollama::parse_ollama_request(body, chat, m->context(), m->spec.defaults);
    if (!parsed.ok()) return HandlerResult(error_reply(parsed.error(), ApiFlavor::kOllama));
    if (parsed->keep_alive) m->set_keep_alive(*parsed->keep_alive);
    if (parsed->load_only || parsed->nothing_to_generate) {
      const bool unload = parsed->keep_alive && *parsed->keep_alive == 0;
      const char* reason = parsed->nothing_to_generate ? "length" : unload ? "unload" : "load";
      // One object: a stream of one line, or the whole answer.
      HttpReply r = json_reply(ollama::ollama_empty_answer(*parsed, reason, times));
      r.body += '\n';
      return HandlerResult(std::move(r));
    }
    auto formatter = ollama::make_ollama_formatter(*parsed, times);
    std::vector<GenerationRequest> requests;
    requests.push_back(std::move(parsed->generation));
    return start_generation(m, std::move(requests), std::move(formatter), parsed->stream,
                            ApiFlavor::kOllama, chat ? "messages" : "prompt");
  });
}

bool Api::is_router_path(std::string_view path) {
  return path == "/v1/chat/completions/render" || path == "/v1/completions/render" ||
         path == "/get_load" || path == "/get_server_info" || path == "/get_model_info" ||
         path == "/health_generate" || path == "/version";
}

HandlerResult Api::router_routes(const HttpRequest& req, bool draining) {
  const std::string& path = req.path;
  constexpr ApiFlavor kOpenAI = ApiFlavor::kOpenAI;
  if (path == "/v1/chat/completions/render" || path == "/v1/completions/render") {
    // Rendering generates nothing, so it goes on while draining and is not admitted.
    if (req.method != "POST") return method_not_allowed("POST", kOpenAI);
    const bool chat = path == "/v1/chat/completions/render";
    return with_body_model(req, kOpenAI, [chat](const Json& body, const ModelLease& m) {
      auto rendered = chat ? router::render_chat_completion(body, m->context())
                           : router::render_completion(body, m->context());
      if (!rendered.ok()) return HandlerResult(error_reply(rendered.error(), kOpenAI));
      return HandlerResult(json_reply(*rendered));
    });
  }
  if (req.method != "GET") return method_not_allowed("GET", kOpenAI);
  if (path == "/version") return json_reply(router::version_json());
  if (path == "/health_generate") {
    // SGLang's deeper health check: one real token through the default model's engine.
    if (draining)
      return error_reply(ApiError::unavailable("the server is shutting down"), kOpenAI);
    return with_model(req, models_->default_model(), kOpenAI, [this](const ModelLease& m) {
      const Json body = {{"model", m->context().name()}, {"prompt", "ping"}, {"max_tokens", 1}};
      return completions(body, m);
    });
  }
  if (path == "/get_model_info") {
    const std::string name = models_->default_model();
    std::optional<ModelSpec> spec = models_->find(name);
    if (!spec) return error_reply(ApiError::model_not_found(name), kOpenAI);
    int32_t max_model_len = 0;
    for (const LoadedModelInfo& l : models_->loaded())
      if (l.spec.name == spec->name) max_model_len = l.context_length;
    return json_reply(router::model_info_json(spec->name, spec->path, max_model_len));
  }
  std::vector<router::ModelLoad> loads;
  models_->for_each_loaded([&](const ServedModel& m) {
    loads.push_back({m.spec.name, m.engine().stats(), m.engine().block_size(),
                     m.context().max_model_len, m.context().max_num_seqs});
  });
  if (path == "/get_load") return json_reply(router::load_json(loads));
  return json_reply(router::server_info_json(loads, models_->default_model()));
}

HttpReply Api::models(const std::string& id) {
  const std::vector<LoadedModelInfo> loaded = models_->loaded();
  auto loaded_info = [&](const ModelSpec& spec) -> const LoadedModelInfo* {
    for (const LoadedModelInfo& l : loaded)
      if (l.spec.name == spec.name) return &l;
    return nullptr;
  };
  if (id.empty()) {
    Json data = Json::array();
    for (const ModelSpec& spec : models_->specs()) {
      std::vector<std::string> names = {spec.name};
      names.insert(names.end(), spec.aliases.begin(), spec.aliases.end());
      for (const std::string& name : names)
        if (!t_request_key || t_request_key->allows_model(name))  // what the key may use
          data.push_back(model_json(spec, name, loaded_info(spec)));
    }
    return json_reply({{"object", "list"}, {"data", std::move(data)}});
  }
  std::optional<ModelSpec> spec = models_->find(id);
  if (!spec) return error_reply(ApiError::model_not_found(id), ApiFlavor::kOpenAI);
  return json_reply(model_json(*spec, id, loaded_info(*spec)));
}

HttpReply Api::metrics() {
  HttpReply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = models_->render_metrics();
  if (keys_.enabled())
    r.body += keys_.render_metrics(options_.metrics_prefix, models_->default_model());
  return r;
}

}  // namespace kiln::server
