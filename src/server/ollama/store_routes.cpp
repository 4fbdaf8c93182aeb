#include "server/ollama/store_routes.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/json_fields.h"
#include "server/models/store_specs.h"
#include "store/modelfile.h"

namespace kiln::server::ollama {
namespace {

HttpReply json_line_reply(const Json& body) {
  HttpReply r;
  r.body = dump_json(body) + "\n";
  return r;
}

// The model a body names: "model", or the older "name".
std::string named_model(FieldReader& f, std::string_view key = "model") {
  std::string name = f.string(key).value_or("");
  if (name.empty() && key == "model") name = f.string("name").value_or("");
  if (name.empty() && f.ok()) f.fail(key, "is required");
  return name;
}

ApiError store_error(const Status& s) {
  // The store's messages say what was not found ("... not found; the store holds ...").
  if (s.message().find("not found") != std::string::npos) return ApiError::not_found(s.message());
  return ApiError::bad_request(s.message());
}

}  // namespace

// A pull running on its own thread; its progress goes out as NDJSON lines (or, when not
// streaming, only its outcome). The client leaving cancels it at the next chunk of bytes; a
// cancelled pull leaves its partial download to resume from.
class PullJob final : public ResponseJob {
 public:
  PullJob(StoreRoutes& routes, std::string source, bool stream)
      : routes_(routes), source_(std::move(source)), stream_(stream) {}

  ~PullJob() override {
    cancel_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(routes_.pulls_mu_);
    routes_.pulls_.erase(source_);
  }

  bool streaming() const override { return stream_; }

  void start(std::function<void()> wake) override {
    wake_ = std::move(wake);
    thread_ = std::thread([this] { run(); });
  }

  bool poll(std::string& body) override {
    std::lock_guard lock(mu_);
    if (stream_) body += std::exchange(pending_, "");
    return done_;
  }

  HttpReply reply() override {
    HttpReply r;
    if (stream_) {
      r.content_type = "application/x-ndjson";
      return r;
    }
    std::lock_guard lock(mu_);
    if (error_) return error_reply(*error_, ApiFlavor::kOllama);
    return json_line_reply({{"status", "success"}});
  }

  void cancel() override { cancel_ = true; }
  std::string summary() const override { return "pull " + source_; }

 private:
  void emit(const Json& line) {
    {
      std::lock_guard lock(mu_);
      pending_ += dump_json(line) + "\n";
    }
    wake_();
  }

  void run() {
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
    std::string last_status;
    auto progress = [&](const store::PullProgress& p) {
      // At most ten byte counts a second, and every change of status.
      const auto now = std::chrono::steady_clock::now();
      if (p.status == last_status && now - last < std::chrono::milliseconds(100) &&
          p.completed_bytes < p.total_bytes)
        return;
      last = now;
      last_status = p.status;
      Json line = {{"status", p.status}};
      if (p.total_bytes > 0) {
        line["digest"] = p.status;
        line["total"] = p.total_bytes;
        line["completed"] = p.completed_bytes;
      }
      emit(line);
    };
    auto pulled = routes_.store_.pull(source_, progress, &cancel_);
    if (pulled.ok()) routes_.publish(pulled->name);
    {
      std::lock_guard lock(mu_);
      if (!pulled.ok()) {
        error_ = ApiError::bad_request(pulled.message());
        if (stream_) pending_ += dump_json({{"error", pulled.message()}}) + "\n";
      }
      done_ = true;
    }
    wake_();
  }

  StoreRoutes& routes_;
  const std::string source_;
  const bool stream_;
  std::function<void()> wake_;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::string pending_;
  bool done_ = false;
  std::optional<ApiError> error_;
};

void StoreRoutes::publish(const std::string& name) {
  auto resolved = store_.find(name);
  if (!resolved.ok()) return spdlog::warn("store: '{}' vanished: {}", name, resolved.message());
  // A store model stays loaded 5 idle minutes, as Ollama's do.
  auto spec = spec_for_resolved(*resolved, 300);
  if (!spec.ok()) return spdlog::warn("store: cannot serve '{}': {}", name, spec.message());
  models_.upsert(std::move(spec).value());
}

HandlerResult StoreRoutes::pull(const Json& body) {
  FieldReader f(body);
  const std::string source = named_model(f);
  const bool stream = f.boolean("stream").value_or(true);
  f.boolean("insecure");
  if (!f.ok()) return error_reply(f.error(), ApiFlavor::kOllama);
  {
    std::lock_guard lock(pulls_mu_);
    if (!pulls_.insert(source).second) {
      ApiError e;
      e.status = 409;
      e.message = "a pull of '" + source + "' is already running";
      return error_reply(e, ApiFlavor::kOllama);
    }
  }
  return std::make_shared<PullJob>(*this, source, stream);
}

HttpReply StoreRoutes::remove(const Json& body) {
  FieldReader f(body);
  const std::string name = named_model(f);
  if (!f.ok()) return error_reply(f.error(), ApiFlavor::kOllama);
  if (Status s = store_.remove(name); !s.ok())
    return error_reply(store_error(s), ApiFlavor::kOllama);
  models_.remove(name);
  HttpReply r;
  return r;
}

HttpReply StoreRoutes::copy(const Json& body) {
  FieldReader f(body);
  const std::string source = named_model(f, "source");
  const std::string destination = named_model(f, "destination");
  if (!f.ok()) return error_reply(f.error(), ApiFlavor::kOllama);
  if (Status s = store_.copy(source, destination); !s.ok())
    return error_reply(store_error(s), ApiFlavor::kOllama);
  publish(destination);
  return HttpReply();
}

HttpReply StoreRoutes::create(const Json& body) {
  FieldReader f(body);
  const std::string name = named_model(f);
  for (const char* refused : {"files", "adapters", "quantize", "messages"})
    if (f.has(refused))
      f.fail(refused, "is not supported: kiln creates a model from a Modelfile's FROM, "
                      "PARAMETER, SYSTEM, TEMPLATE and LICENSE");
  // Ollama's current fields, written as the Modelfile they stand for; or the older
  // "modelfile" text as it is.
  std::string text = f.string("modelfile").value_or("");
  if (text.empty()) {
    const std::string from = f.string("from").value_or("");
    if (from.empty() && f.ok()) f.fail("from", "is required (the model or GGUF file to build on)");
    text = "FROM " + from + "\n";
    // Written out as Modelfile lines, so the store's parser checks every parameter (an
    // unknown one is an error naming it, not dropped).
    using store::quote_modelfile_value;
    if (auto system = f.string("system")) text += "SYSTEM " + quote_modelfile_value(*system) + "\n";
    if (auto tmpl = f.string("template")) text += "TEMPLATE " + quote_modelfile_value(*tmpl) + "\n";
    if (auto license = f.string("license"))
      text += "LICENSE " + quote_modelfile_value(*license) + "\n";
    if (const Json* params = f.object("parameters")) {
      for (const auto& [key, value] : params->items()) {
        const Json values = value.is_array() ? value : Json::array({value});
        for (const Json& v : values)
          text += "PARAMETER " + key + " " +
                  (v.is_string() ? quote_modelfile_value(v.get<std::string>()) : v.dump()) + "\n";
      }
    }
  }
  const bool stream = f.boolean("stream").value_or(true);
  if (!f.ok()) return error_reply(f.error(), ApiFlavor::kOllama);
  auto created = store_.create(name, text);
  if (!created.ok()) return error_reply(store_error(created.status()), ApiFlavor::kOllama);
  publish(created->name);
  HttpReply r = json_line_reply({{"status", "success"}});
  if (stream) r.content_type = "application/x-ndjson";
  return r;
}

}  // namespace kiln::server::ollama
