#include "server/responses/tool_loop.h"

#include <spdlog/spdlog.h>

#include <set>
#include <thread>

#include "server/json_fields.h"
#include "server/responses/formatter.h"
#include "server/responses/items.h"
#include "server/tool_request.h"

namespace kiln::server {

struct ToolLoopJob::Server {
  McpServerRef ref;
  std::shared_ptr<mcp_client::McpClient> client;
  std::vector<mcp_client::McpTool> tools;  // listed, allowed_tools applied
  std::optional<std::string> error;        // why its tools could not be listed
};

struct ToolLoopJob::PendingCall {
  size_t output_index = 0;  // its mcp_call item's place in the response's output
  std::shared_ptr<mcp_client::McpClient> client;
  std::string name, arguments;
  McpCallOutcome outcome;
};

// A phase's work off the strand: its inputs and results, handed over under `mu`.
struct ToolLoopJob::Worker {
  std::mutex mu;
  bool done = false;
  std::vector<Server> servers;
  std::vector<PendingCall> calls;
};

// One turn's engine output, beyond the text the OutputBuilder takes.
struct ToolLoopJob::Turn {
  Usage usage;
  std::optional<FinishReason> finish;
};

namespace {

// Hands one turn's engine output to the loop as it arrives.
class TurnCollector final : public ResponseFormatter {
 public:
  using OnOutput = std::function<void(const RequestOutput&)>;
  explicit TurnCollector(OnOutput on_output) : on_output_(std::move(on_output)) {}
  void on_output(size_t, const RequestOutput& out, std::string&) override { on_output_(out); }
  void on_finished(std::string&) override {}
  void on_stream_error(const ApiError&, std::string&) override {}

 private:
  OnOutput on_output_;
};

// The message of an API error reply's body (a turn refused by start_generation).
std::string error_message(const HttpReply& reply) {
  const Json body = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object())
    return body["error"].value("message", "the request failed");
  return "the request failed (HTTP " + std::to_string(reply.status) + ")";
}

}  // namespace

ToolLoopJob::ToolLoopJob(ResponsesRequest request, ResponseMeta meta, ResponseStore* store,
                         const ModelContext& model, std::shared_ptr<const void> hold,
                         McpOptions options, StartTurn start_turn)
    : hold_(std::move(hold)),
      model_(model),
      meta_(std::move(meta)),
      store_(request.store ? store : nullptr),
      options_(std::move(options)),
      start_turn_(std::move(start_turn)),
      request_(std::move(request)),
      plan_(*request_.tool_loop),
      streaming_(request_.stream),
      conversation_(plan_.conversation) {
  for (const McpServerRef& ref : plan_.servers) servers_.push_back(Server{ref, nullptr, {}, {}});
}

ToolLoopJob::~ToolLoopJob() {
  cancel();
  // A request's own HTTP servers are told the session ended (up to a second each): not on
  // the connection's strand.
  std::thread([servers = std::move(servers_)] {}).detach();
}

void ToolLoopJob::start(std::function<void()> wake) {
  wake_ = std::move(wake);
  const Json empty_usage;
  for (const char* type : {"response.created", "response.in_progress"})
    writer_.emit(events(), {{"type", type},
                            {"response", responses_object(meta_, request_.echo, "in_progress",
                                                          Json::array(), empty_usage, nullptr,
                                                          nullptr)}});
  for (const Server& s : servers_) {
    output_.push_back(mcp_list_tools_item(s.ref.label, {}, std::nullopt));
    const size_t index = output_.size() - 1;
    writer_.emit(events(), {{"type", "response.output_item.added"},
                            {"output_index", index},
                            {"item", output_[index]}});
    writer_.emit(events(), {{"type", "response.mcp_list_tools.in_progress"},
                            {"item_id", output_[index]["id"]},
                            {"output_index", index}});
  }
  worker_ = std::make_shared<Worker>();
  worker_->servers = servers_;
  run_on_worker([pool = options_.pool, timeout = options_.timeout_seconds,
                 cancel = cancelled_](Worker& w) {
    for (Server& s : w.servers) {
      auto client = s.ref.own ? mcp_client::connect_server(*s.ref.own, timeout, cancel.get())
                              : pool->client(s.ref.label, cancel.get());
      if (!client.ok()) {
        s.error = client.message();
        continue;
      }
      auto tools = (*client)->tools(cancel.get());
      if (!tools.ok()) {
        s.error = tools.message();
        continue;
      }
      s.client = std::move(*client);
      for (mcp_client::McpTool& t : *tools) {
        bool allowed = !s.ref.allowed_tools;
        if (s.ref.allowed_tools)
          for (const std::string& name : *s.ref.allowed_tools) allowed |= name == t.name;
        if (allowed) s.tools.push_back(std::move(t));
      }
    }
  });
}

void ToolLoopJob::run_on_worker(std::function<void(Worker&)> work) {
  // Detached: the thread owns what it uses (the worker's state, the clients, the cancel
  // flag), so a job dropped mid-call does not wait for it; the flag ends it soon after.
  std::thread([w = worker_, wake = wake_, work = std::move(work)] {
    work(*w);
    {
      std::lock_guard lock(w->mu);
      w->done = true;
    }
    wake();
  }).detach();
}

bool ToolLoopJob::poll(std::string& body) {
  auto worker_done = [this] {
    std::lock_guard lock(worker_->mu);
    return worker_->done;
  };
  bool done = false;
  while (!done) {
    bool waiting = false;
    switch (phase_) {
      case Phase::kListing:
        if (!(waiting = !worker_done())) on_listed();
        break;
      case Phase::kGenerating: {
        std::shared_ptr<ResponseJob> inner;
        {
          std::lock_guard lock(inner_mu_);
          inner = inner_;
        }
        std::string ignored;  // the turn's events come through the collector
        if (!(waiting = !inner->poll(ignored))) on_turn_done();
        break;
      }
      case Phase::kCalling:
        if (!(waiting = !worker_done())) on_calls_done();
        break;
      case Phase::kDone:
        done = true;
        break;
    }
    if (waiting) break;
  }
  body += events_;
  events_.clear();
  return done;
}

void ToolLoopJob::on_listed() {
  servers_ = std::move(worker_->servers);
  worker_.reset();
  if (cancelled_->load()) return fail(ApiError::internal("cancelled"));
  // A name the model could call twice would be ambiguous: the client's function tools come
  // first, then the servers in order; a later tool of the same name is not offered.
  std::set<std::string> taken;
  for (const auto& t : plan_.function_tools) taken.insert(t.name);
  for (size_t i = 0; i < servers_.size(); ++i) {
    Server& s = servers_[i];
    Json& item = output_[i];
    const Json id = item["id"];  // the one announced at the start
    item = mcp_list_tools_item(s.ref.label, s.tools, s.error);
    item["id"] = id;
    if (s.error) spdlog::warn("mcp server '{}': {}", s.ref.label, *s.error);
    writer_.emit(events(), {{"type", s.error ? "response.mcp_list_tools.failed"
                                             : "response.mcp_list_tools.completed"},
                            {"item_id", item["id"]},
                            {"output_index", i}});
    writer_.emit(events(),
                 {{"type", "response.output_item.done"}, {"output_index", i}, {"item", item}});
    std::erase_if(s.tools, [&](const mcp_client::McpTool& t) {
      if (taken.insert(t.name).second) return false;
      spdlog::warn("mcp server '{}': tool '{}' not offered, another tool has its name",
                   s.ref.label, t.name);
      return true;
    });
  }
  if (plan_.choice_server) {
    const std::string& name = plan_.first_choice.name;
    for (const Server& s : servers_) {
      if (s.ref.label != *plan_.choice_server) continue;
      if (s.error) {
        ApiError e;
        e.status = 424;
        e.message = "tool_choice names a tool of the mcp server '" + s.ref.label +
                    "', whose tools could not be listed: " + *s.error;
        e.param = "tool_choice";
        return fail(e);
      }
      bool found = false;
      for (const auto& t : s.tools) found |= t.name == name;
      if (!found)
        return fail(ApiError::bad_request("tool_choice.name \"" + name +
                                              "\" is not a tool of the mcp server '" +
                                              s.ref.label + "'",
                                          "tool_choice.name"));
    }
  }
  start_next_turn();
}

void ToolLoopJob::start_next_turn() {
  GenerationRequest generation = request_.generation;
  if (request_.echo["max_output_tokens"].is_number_integer()) {
    // max_output_tokens bounds the whole response, every turn together.
    const int64_t left =
        request_.echo["max_output_tokens"].get<int64_t>() - usage_.completion_tokens;
    if (left <= 0) return finish("incomplete", {{"reason", "max_output_tokens"}});
    generation.sampling.max_tokens = (int32_t)std::min<int64_t>(left, INT32_MAX);
  }
  tool_calls::ToolCallGrammarRequest g;
  g.format = plan_.format;
  g.tools = plan_.function_tools;
  g.parallel_tool_calls = plan_.parallel_tool_calls;
  // Forced choices hold for the first turn only: later turns must be free to answer.
  if (rounds_ == 0) g.choice = plan_.first_choice;
  Json template_tools = plan_.function_template_tools;
  for (const Server& s : servers_)
    for (mcp_client::McpTool t : s.tools) {
      // Servers' schemas seldom close their objects (pydantic's do not), and a small model
      // left free writes any keys it likes; the arguments are held to the listed properties
      // unless the schema itself allows more. Servers ignore or refuse unknown keys anyway.
      Json& schema = t.input_schema;
      if (schema.is_object() && schema.contains("properties") &&
          !schema.contains("additionalProperties"))
        schema["additionalProperties"] = false;
      g.tools.push_back({t.name, schema});
      template_tools.push_back(mcp_template_tool(t));
    }
  std::optional<tool_calls::ToolCallFormat> format;
  if (!g.tools.empty()) {
    const Json none = Json::object();
    FieldReader f(none);
    format = constrain_to_tool_calls(f, model_, g, "text.format", /*compile=*/true, generation);
    if (!f.ok()) return fail(f.error());
  }
  auto prompt = render_responses_prompt(model_, plan_.instructions, conversation_,
                                        template_tools.empty() ? Json() : template_tools);
  if (!prompt.ok()) return fail(prompt.error());
  generation.prompt = std::move(*prompt);

  auto server_tool = [this](const std::string& name) -> std::optional<std::string> {
    for (const Server& s : servers_)
      for (const auto& t : s.tools)
        if (t.name == name) return s.ref.label;
    return std::nullopt;
  };
  builder_.emplace(format, output_.size(), server_tool);
  turn_ = std::make_shared<Turn>();
  // Runs inside the turn job's poll(), which only this job's poll() calls: `this` is alive.
  auto collector = std::make_unique<TurnCollector>([this](const RequestOutput& out) {
    Turn& turn = *turn_;
    turn.usage.prompt_tokens = out.num_prompt_tokens;
    turn.usage.cached_tokens = out.num_cached_tokens;
    if (out.samples.empty()) return;
    const SampleOutput& s = out.samples[0];
    turn.usage.completion_tokens += (int64_t)s.token_ids.size();
    builder_->feed(s.text, writer_, events());
    if (s.finish_reason) turn.finish = s.finish_reason;
  });
  HandlerResult started = start_turn_(std::move(generation), std::move(collector));
  if (auto* refused = std::get_if<HttpReply>(&started)) return fail(std::move(*refused));
  auto* job = std::get_if<std::shared_ptr<ResponseJob>>(&started);
  if (!job) return fail(ApiError::internal("a turn could not start"));
  {
    std::lock_guard lock(inner_mu_);
    inner_ = *job;
  }
  phase_ = Phase::kGenerating;
  if (cancelled_->load()) (*job)->cancel();
  (*job)->start(wake_);
}

void ToolLoopJob::on_turn_done() {
  std::shared_ptr<ResponseJob> inner;
  {
    std::lock_guard lock(inner_mu_);
    inner = std::move(inner_);
  }
  HttpReply turn_reply = inner->reply();
  inner.reset();
  const Turn& turn = *turn_;
  usage_.prompt_tokens += turn.usage.prompt_tokens;
  usage_.cached_tokens += turn.usage.cached_tokens;
  usage_.completion_tokens += turn.usage.completion_tokens;
  if (turn_reply.status != 200) return fail(std::move(turn_reply));
  if (cancelled_->load() || turn.finish == FinishReason::kAbort)
    return fail(ApiError::internal("cancelled"));
  const bool cut_off = turn.finish == FinishReason::kLength;
  builder_->finish(cut_off, writer_, events());

  calls_.clear();
  bool client_call = false;
  for (const Json& item : builder_->items()) {
    output_.push_back(item);
    if (item["type"] != "mcp_call") {
      client_call |= item["type"] == "function_call";
      conversation_.push_back(item);
      continue;
    }
    PendingCall call;
    call.output_index = output_.size() - 1;
    call.name = item["name"];
    call.arguments = item["arguments"];
    for (const Server& s : servers_)
      if (s.ref.label == item["server_label"]) call.client = s.client;
    // The model's own view of the call, for the next turn's prompt.
    conversation_.push_back({{"type", "function_call"},
                             {"call_id", item["id"]},
                             {"name", item["name"]},
                             {"arguments", item["arguments"]}});
    calls_.push_back(std::move(call));
  }
  builder_.reset();
  // Calls that will not run are listed with the reason, and the response ends.
  auto not_called = [this](const std::string& why) {
    for (PendingCall& c : calls_) {
      Json& item = output_[c.output_index];
      item["error"] = mcp_error_json("not called: " + why);
      item["status"] = "incomplete";
      end_call(c.output_index);
    }
  };
  if (cut_off) {
    not_called("the output was cut off (max_output_tokens)");
    return finish("incomplete", {{"reason", "max_output_tokens"}});
  }
  if (calls_.empty()) return finish("completed", nullptr);
  if (rounds_ >= options_.max_tool_turns) {
    not_called("the turn limit (--max-tool-turns " + std::to_string(options_.max_tool_turns) +
               ") was reached");
    return finish("incomplete", {{"reason", "max_tool_turns"}});
  }
  ++rounds_;
  client_call_pending_ = client_call;
  for (const PendingCall& c : calls_)
    writer_.emit(events(), {{"type", "response.mcp_call.in_progress"},
                            {"item_id", output_[c.output_index]["id"]},
                            {"output_index", c.output_index}});
  phase_ = Phase::kCalling;
  worker_ = std::make_shared<Worker>();
  worker_->calls = std::move(calls_);
  calls_.clear();
  run_on_worker([cancel = cancelled_](Worker& w) {
    for (PendingCall& c : w.calls) {
      if (cancel->load()) {
        c.outcome.error = "cancelled";
        continue;
      }
      const Json args = Json::parse(c.arguments, nullptr, /*allow_exceptions=*/false);
      if (!args.is_object()) {
        c.outcome.error = "not called: the arguments are not a JSON object";
        continue;
      }
      auto result = c.client->call_tool(c.name, args, cancel.get());
      if (result.ok())
        c.outcome.result = std::move(*result);
      else
        c.outcome.error = result.message();
    }
  });
}

void ToolLoopJob::end_call(size_t index) {
  const Json& item = output_[index];
  writer_.emit(events(), {{"type", item["status"] == "completed" ? "response.mcp_call.completed"
                                                                 : "response.mcp_call.failed"},
                          {"item_id", item["id"]},
                          {"output_index", index}});
  writer_.emit(events(),
               {{"type", "response.output_item.done"}, {"output_index", index}, {"item", item}});
}

void ToolLoopJob::on_calls_done() {
  std::vector<PendingCall> calls = std::move(worker_->calls);
  worker_.reset();
  for (const PendingCall& c : calls) {
    ++num_calls_;
    Json& item = output_[c.output_index];
    item = mcp_call_item(item["id"], item["server_label"], c.name, c.arguments, c.outcome);
    end_call(c.output_index);
    conversation_.push_back({{"type", "function_call_output"},
                             {"call_id", item["id"]},
                             {"output", mcp_outcome_text(c.outcome)}});
  }
  if (cancelled_->load()) return fail(ApiError::internal("cancelled"));
  // A client's function call in the same turn goes back to the client, with what the MCP
  // calls returned already in the response.
  if (client_call_pending_) return finish("completed", nullptr);
  start_next_turn();
}

void ToolLoopJob::finish(const std::string& status, Json incomplete) {
  phase_ = Phase::kDone;
  Json response = responses_object(meta_, request_.echo, status, output_,
                                   responses_usage_json(usage_), std::move(incomplete), nullptr);
  if (streaming_) {
    writer_.emit(events(), {{"type", status == "completed" ? "response.completed"
                                                           : "response.incomplete"},
                            {"response", response}});
  } else {
    reply_ = HttpReply{};
    reply_.body = dump_json(response);
  }
  if (store_)
    store_response(*store_, meta_.id, std::move(response), request_.previous,
                   request_.input_items, output_);
}

void ToolLoopJob::fail(HttpReply reply) {
  phase_ = Phase::kDone;
  if (!streaming_) {
    reply_ = std::move(reply);
    return;
  }
  // The stream's head went out long ago: the error is its last event.
  Json error = {{"code", reply.status == 429 ? "rate_limit_exceeded"
                         : reply.status < 500 ? "invalid_request"
                                              : "server_error"},
                {"message", error_message(reply)}};
  writer_.emit(events(), {{"type", "response.failed"},
                          {"response", responses_object(meta_, request_.echo, "failed", output_,
                                                        responses_usage_json(usage_), nullptr,
                                                        std::move(error))}});
}

HttpReply ToolLoopJob::reply() {
  if (!streaming_) return reply_;
  HttpReply head;
  head.content_type = "text/event-stream";
  head.headers.emplace_back("Cache-Control", "no-cache");
  return head;
}

void ToolLoopJob::cancel() {
  cancelled_->store(true);
  std::shared_ptr<ResponseJob> inner;
  {
    std::lock_guard lock(inner_mu_);
    inner = inner_;
  }
  if (inner) inner->cancel();
}

std::string ToolLoopJob::summary() const {
  std::string s = "prompt=" + std::to_string(usage_.prompt_tokens) +
                  " cached=" + std::to_string(usage_.cached_tokens) +
                  " completion=" + std::to_string(usage_.completion_tokens) +
                  " tool_rounds=" + std::to_string(rounds_) +
                  " tool_calls=" + std::to_string(num_calls_);
  if (cancelled_->load()) s += " cancelled";
  return s;
}

}  // namespace kiln::server
