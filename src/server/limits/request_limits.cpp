#include "server/limits/request_limits.h"

#include <nlohmann/json.hpp>

#include "server/limits/headers.h"

namespace kiln::server::limits {
namespace {

class MeteredFormatter final : public ResponseFormatter {
 public:
  MeteredFormatter(std::unique_ptr<ResponseFormatter> inner, std::shared_ptr<KeyState> key,
                   const KeyRegistry& registry)
      : inner_(std::move(inner)), key_(std::move(key)), registry_(registry) {}
  // The job (and so this formatter) is destroyed when its response ended or was cancelled.
  ~MeteredFormatter() override { key_->release(); }

  void on_output(size_t index, const RequestOutput& output, std::string& body) override {
    int64_t n = 0;
    for (const SampleOutput& s : output.samples) n += (int64_t)s.token_ids.size();
    if (n > 0) key_->add_completion_tokens(n, registry_.now());
    inner_->on_output(index, output, body);
  }
  void on_finished(std::string& body) override { inner_->on_finished(body); }
  void on_stream_error(const ApiError& error, std::string& body) override {
    inner_->on_stream_error(error, body);
  }

 private:
  std::unique_ptr<ResponseFormatter> inner_;
  std::shared_ptr<KeyState> key_;
  const KeyRegistry& registry_;
};

// A job whose reply (or streaming head) carries extra headers; everything else is the
// wrapped job's.
class HeaderedJob final : public ResponseJob {
 public:
  HeaderedJob(std::shared_ptr<ResponseJob> inner, HeaderList headers)
      : inner_(std::move(inner)), headers_(std::move(headers)) {}
  bool streaming() const override { return inner_->streaming(); }
  void start(std::function<void()> wake) override { inner_->start(std::move(wake)); }
  bool poll(std::string& body) override { return inner_->poll(body); }
  HttpReply reply() override {
    HttpReply r = inner_->reply();
    r.headers.insert(r.headers.end(), headers_.begin(), headers_.end());
    return r;
  }
  void cancel() override { inner_->cancel(); }
  std::string summary() const override { return inner_->summary(); }

 private:
  std::shared_ptr<ResponseJob> inner_;
  HeaderList headers_;
};

ApiError model_refused(const std::string& model) {
  // OpenAI's wording for a model that does not exist *or* that the key may not use.
  ApiError e = ApiError::not_found(
      "The model `" + model + "` does not exist or you do not have access to it.",
      "model_not_found");
  e.param = "model";
  return e;
}

}  // namespace

std::optional<ApiError> check_model(KeyState& key, const HttpRequest& request,
                                    const std::string& default_model) {
  // MCP names no model at the top of its messages; its tools run the served model.
  if (!key.has_model_list() || request.path == "/mcp") return std::nullopt;
  std::string model;
  constexpr std::string_view kModelPath = "/v1/models/";
  if (request.method == "GET" && request.path.starts_with(kModelPath)) {
    model = request.path.substr(kModelPath.size());
  } else if (request.method == "POST") {
    const nlohmann::json body = nlohmann::json::parse(request.body, nullptr, false);
    // A body that is not an object is the route's to reject, with its own message.
    if (!body.is_object()) return std::nullopt;
    model = default_model;
    if (auto it = body.find("model"); it != body.end() && it->is_string()) model = *it;
  } else {
    return std::nullopt;
  }
  if (key.allows_model(model)) return std::nullopt;
  key.count_model_rejection();
  return model_refused(model);
}

std::optional<ApiError> admit(KeyState& key, int64_t prompt_tokens, double now) {
  const Decision d = key.try_admit(prompt_tokens, now);
  if (d.admitted) return std::nullopt;
  return ApiError::rate_limited(d.message, d.retry_after_seconds);
}

std::unique_ptr<ResponseFormatter> metered(std::unique_ptr<ResponseFormatter> inner,
                                           std::shared_ptr<KeyState> key,
                                           const KeyRegistry& registry) {
  return std::make_unique<MeteredFormatter>(std::move(inner), std::move(key), registry);
}

void add_headers(HandlerResult& result, KeyState& key, std::string_view path, double now) {
  const Snapshot s = key.snapshot(now);
  if (!s.requests && !s.tokens) return;
  HeaderList headers;
  append_openai_headers(s, headers);
  if (path.starts_with("/v1/messages"))
    append_anthropic_headers(s, std::chrono::system_clock::now(), headers);
  if (auto* reply = std::get_if<HttpReply>(&result)) {
    reply->headers.insert(reply->headers.end(), headers.begin(), headers.end());
    return;
  }
  // A deferred answer (its model is loading) gets them once decided (Api::with_model).
  if (std::holds_alternative<std::shared_ptr<DeferredResult>>(result)) return;
  auto& job = std::get<std::shared_ptr<ResponseJob>>(result);
  job = std::make_shared<HeaderedJob>(std::move(job), std::move(headers));
}

}  // namespace kiln::server::limits
