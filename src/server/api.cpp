#include "server/api.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "server/anthropic/messages.h"
#include "server/json_fields.h"
#include "server/log_format.h"
#include "server/limits/request_limits.h"
#include "server/mcp/http_route.h"
#include "server/mcp/jsonrpc.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/openapi.h"
#include "server/openai/tokenize_routes.h"
#include "server/responses/formatter.h"
#include "server/responses/request.h"
#include "server/responses/routes.h"

namespace kiln::server {
namespace {

HttpReply json_reply(const Json& body) {
  HttpReply r;
  r.body = dump_json(body);
  return r;
}

Json model_json(const ModelContext& model, const std::string& id) {
  return {{"id", id},
          {"object", "model"},
          {"created", model.created},
          {"owned_by", "kiln"},
          {"root", model.name()},
          {"parent", nullptr},
          {"max_model_len", model.max_model_len}};
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

}  // namespace

Api::Api(ApiOptions options)
    : options_(std::move(options)),
      keys_(options_.api_keys, options_.api_keys_file),
      metrics_(options_.metrics_prefix),
      responses_store_(options_.responses) {}

Api::~Api() = default;

void Api::set_model(ModelContext model) {
  model_ = std::make_unique<ModelContext>(std::move(model));
  admission_ = std::make_unique<Admission>(model_->max_num_seqs, options_.max_queue);
  mcp_ = std::make_unique<mcp::Dispatcher>(*model_);
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
    if (auto refused = limits::check_model(*t_request_key, req, model_->name()))
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
    auto result = path == "/tokenize" ? tokenize(*body, *model_) : detokenize(*body, *model_);
    if (!result.ok()) return error_reply(result.error(), flavor);
    return json_reply(*result);
  }

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
  if (path == "/v1/chat/completions") return chat_completions(req);
  if (path == "/v1/completions") return completions(req);
  return messages(req, path == "/v1/messages/count_tokens");
}

HandlerResult Api::chat_completions(const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body.ok()) return error_reply(body.error(), ApiFlavor::kOpenAI);
  auto parsed = parse_chat_completion_request(*body, *model_);
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kOpenAI);
  ResponseMeta meta{random_id("chatcmpl-"), unix_seconds(), parsed->model};
  auto formatter = make_chat_formatter(*parsed, *model_->tokenizer, std::move(meta));
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(parsed->generation));
  return start_generation(std::move(requests), std::move(formatter), parsed->stream,
                          ApiFlavor::kOpenAI, "messages");
}

HandlerResult Api::completions(const HttpRequest& req) {
  auto body = parse_json_object(req.body);
  if (!body.ok()) return error_reply(body.error(), ApiFlavor::kOpenAI);
  auto parsed = parse_completion_request(*body, *model_);
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kOpenAI);
  ResponseMeta meta{random_id("cmpl-"), unix_seconds(), parsed->model};
  auto formatter = make_completion_formatter(*parsed, *model_->tokenizer, std::move(meta));
  return start_generation(std::move(parsed->generations), std::move(formatter), parsed->stream,
                          ApiFlavor::kOpenAI, "prompt");
}

HandlerResult Api::messages(const HttpRequest& req, bool count_tokens) {
  auto body = parse_json_object(req.body);
  if (!body.ok()) return error_reply(body.error(), ApiFlavor::kAnthropic);
  auto parsed = parse_messages_request(*body, *model_, count_tokens);
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kAnthropic);
  if (count_tokens) return json_reply({{"input_tokens", parsed->generation.prompt.size()}});
  ResponseMeta meta{random_id("msg_"), unix_seconds(), parsed->model};
  auto formatter = make_messages_formatter(*parsed, std::move(meta));
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(parsed->generation));
  return start_generation(std::move(requests), std::move(formatter), parsed->stream,
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
  auto body = parse_json_object(req.body);
  if (!body.ok()) return error_reply(body.error(), ApiFlavor::kOpenAI);
  auto parsed = parse_responses_request(*body, *model_, responses_store_);
  if (!parsed.ok()) return error_reply(parsed.error(), ApiFlavor::kOpenAI);
  ResponseMeta meta{random_id("resp_"), unix_seconds(), parsed->model};
  auto formatter = make_responses_formatter(*parsed, std::move(meta), &responses_store_);
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(parsed->generation));
  return start_generation(std::move(requests), std::move(formatter), parsed->stream,
                          ApiFlavor::kOpenAI, "input");
}

HandlerResult Api::mcp_endpoint(const HttpRequest& req, bool draining) {
  // No server-initiated stream (GET) and no sessions to end (DELETE): the spec lets a
  // server answer both with 405.
  if (req.method != "POST") return method_not_allowed("POST", ApiFlavor::kOpenAI);
  if (draining)
    return error_reply(ApiError::unavailable("the server is shutting down"), ApiFlavor::kOpenAI);
  mcp::Step step = mcp_->handle_text(req.body);
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
  const bool stream =
      !pending.progress_token.is_null() && mcp::accepts_event_stream(req.header("accept"));
  auto formatter = mcp::make_mcp_formatter(pending, stream);
  const Json id = pending.id;
  std::vector<GenerationRequest> requests;
  requests.push_back(std::move(pending.request));
  HandlerResult result = start_generation(std::move(requests), std::move(formatter), stream,
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

HandlerResult Api::start_generation(std::vector<GenerationRequest> requests,
                                    std::unique_ptr<ResponseFormatter> formatter, bool stream,
                                    ApiFlavor flavor, std::string_view prompt_param) {
  int64_t num_seqs = 0;
  for (const GenerationRequest& r : requests) num_seqs += std::max(1, r.sampling.n);
  std::optional<Admission::Ticket> ticket = admission_->try_admit(num_seqs);
  if (!ticket)
    return error_reply(ApiError::rate_limited(
                           "the server is at capacity: " + std::to_string(admission_->capacity()) +
                               " sequences running or queued (--max-num-seqs + --max-queue); "
                               "retry later",
                           1),
                       flavor);
  // The key's budgets (server/limits/): the prompt's tokens now, completion tokens as they
  // are generated (the metered formatter), one concurrency slot until the job ends.
  const std::shared_ptr<limits::KeyState> key = t_request_key;
  int64_t prompt_tokens = 0;
  for (const GenerationRequest& r : requests) prompt_tokens += (int64_t)r.prompt.size();
  if (key) {
    if (auto refused = limits::admit(*key, prompt_tokens, keys_.now()))
      return error_reply(*refused, flavor);
    formatter = limits::metered(std::move(formatter), key, keys_);
  }
  Engine& engine = *model_->engine;
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
  auto job =
      std::make_shared<GenerationJob>(engine, metrics_, std::move(streams), std::move(formatter),
                                      stream, flavor, std::move(*ticket));
  std::lock_guard lock(jobs_mu_);
  std::erase_if(jobs_, [](const auto& j) { return j.expired(); });
  jobs_.push_back(job);
  return job;
}

HttpReply Api::models(const std::string& id) {
  if (id.empty()) {
    Json data = Json::array();
    for (const std::string& name : model_->served_names)
      if (!t_request_key || t_request_key->allows_model(name))  // what the key may use
        data.push_back(model_json(*model_, name));
    return json_reply({{"object", "list"}, {"data", std::move(data)}});
  }
  if (!model_->serves(id)) return error_reply(ApiError::model_not_found(id), ApiFlavor::kOpenAI);
  return json_reply(model_json(*model_, id));
}

HttpReply Api::metrics() {
  HttpReply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.render(model_->name(), model_->engine->stats(),
                          model_->engine->grammar_compiler_stats());
  if (keys_.enabled()) r.body += keys_.render_metrics(options_.metrics_prefix, model_->name());
  return r;
}

}  // namespace kiln::server
