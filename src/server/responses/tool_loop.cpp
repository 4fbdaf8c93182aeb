#include "server/responses/tool_loop.h"

#include <spdlog/spdlog.h>

#include <set>
#include <thread>

#include "server/json_fields.h"
#include "server/responses/formatter.h"
#include "server/responses/items.h"
#include "server/responses/output.h"
#include "server/tool_request.h"

namespace kiln::server {

struct ToolLoopJob::Server {
  McpServerRef ref;
  std::shared_ptr<mcp_client::McpClient> client;
  std::vector<mcp_client::McpTool> tools;  // listed, allowed_tools applied
  std::optional<std::string> error;        // why its tools could not be listed
};

struct ToolLoopJob::PendingCall {
  size_t output_index = 0;  // where its mcp_call item goes in the response's output
  std::string server_label;
  std::shared_ptr<mcp_client::McpClient> client;
  std::string name, arguments, call_id, item_id;
  McpCallOutcome outcome;
};

// A phase's work off the strand: its inputs and results, handed over under `mu`.
struct ToolLoopJob::Worker {
  std::mutex mu;
  bool done = false;
  std::vector<Server> servers;
  std::vector<PendingCall> calls;
};

// One turn's output as the engine gave it.
struct ToolLoopJob::Turn {
  std::string text;
  Usage usage;
  std::optional<FinishReason> finish;
  std::optional<tool_calls::ToolCallFormat> format;  // the calls' format; nullopt: no tools
};

namespace {

// Collects one turn for the loop; the loop builds the items itself once the turn is over.
class TurnCollector final : public ResponseFormatter {
 public:
  using Turn = std::function<void(const RequestOutput&)>;
  explicit TurnCollector(Turn on_output) : on_output_(std::move(on_output)) {}
  void on_output(size_t, const RequestOutput& out, std::string&) override { on_output_(out); }
  void on_finished(std::string&) override {}
  void on_stream_error(const ApiError&, std::string&) override {}

 private:
  Turn on_output_;
};

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
      conversation_(plan_.conversation) {
  for (const McpServerRef& ref : plan_.servers) servers_.push_back(Server{ref, nullptr, {}, {}});
}

ToolLoopJob::~ToolLoopJob() {
  cancel();
  // A request's own HTTP servers are told the session ended (up to a second each): not on
  // the connection's strand.
  std::thread([servers = std::move(servers_), calls = std::move(calls_)] {}).detach();
}

void ToolLoopJob::start(std::function<void()> wake) {
  wake_ = std::move(wake);
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

bool ToolLoopJob::poll(std::string&) {
  auto worker_done = [this] {
    std::lock_guard lock(worker_->mu);
    return worker_->done;
  };
  while (true) {
    switch (phase_) {
      case Phase::kListing:
        if (!worker_done()) return false;
        on_listed();
        break;
      case Phase::kGenerating: {
        std::shared_ptr<ResponseJob> inner;
        {
          std::lock_guard lock(inner_mu_);
          inner = inner_;
        }
        std::string ignored;
        if (!inner->poll(ignored)) return false;
        on_turn_done();
        break;
      }
      case Phase::kCalling:
        if (!worker_done()) return false;
        on_calls_done();
        break;
      case Phase::kDone:
        return true;
    }
  }
}

void ToolLoopJob::on_listed() {
  servers_ = std::move(worker_->servers);
  worker_.reset();
  if (cancelled_->load()) return fail(error_reply(ApiError::internal("cancelled"), ApiFlavor::kOpenAI));
  // A name the model could call twice would be ambiguous: the client's function tools come
  // first, then the servers in order; a later tool of the same name is not offered.
  std::set<std::string> taken;
  for (const auto& t : plan_.function_tools) taken.insert(t.name);
  for (Server& s : servers_) {
    output_.push_back(mcp_list_tools_item(s.ref.label, s.tools, s.error));
    if (s.error) spdlog::warn("mcp server '{}': {}", s.ref.label, *s.error);
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
        return fail(error_reply(e, ApiFlavor::kOpenAI));
      }
      bool found = false;
      for (const auto& t : s.tools) found |= t.name == name;
      if (!found)
        return fail(error_reply(ApiError::bad_request("tool_choice.name \"" + name +
                                                          "\" is not a tool of the mcp server '" +
                                                          s.ref.label + "'",
                                                      "tool_choice.name"),
                                ApiFlavor::kOpenAI));
    }
  }
  start_next_turn();
}

void ToolLoopJob::start_next_turn() {
  GenerationRequest generation = request_.generation;
  if (request_.echo["max_output_tokens"].is_number_integer()) {
    // max_output_tokens bounds the whole response, every turn together.
    const int64_t left = request_.echo["max_output_tokens"].get<int64_t>() - usage_.completion_tokens;
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
  auto turn = std::make_shared<Turn>();
  if (!g.tools.empty()) {
    const Json none = Json::object();
    FieldReader f(none);
    turn->format = constrain_to_tool_calls(f, model_, g, "text.format", /*compile=*/true,
                                           generation);
    if (!f.ok()) return fail(error_reply(f.error(), ApiFlavor::kOpenAI));
  }
  auto prompt = render_responses_prompt(model_, plan_.instructions, conversation_,
                                        template_tools.empty() ? Json() : template_tools);
  if (!prompt.ok()) return fail(error_reply(prompt.error(), ApiFlavor::kOpenAI));
  generation.prompt = std::move(*prompt);
  turn_ = turn;
  auto collector = std::make_unique<TurnCollector>([turn](const RequestOutput& out) {
    turn->usage.prompt_tokens = out.num_prompt_tokens;
    turn->usage.cached_tokens = out.num_cached_tokens;
    if (out.samples.empty()) return;
    const SampleOutput& s = out.samples[0];
    turn->usage.completion_tokens += (int64_t)s.token_ids.size();
    turn->text += s.text;
    if (s.finish_reason) turn->finish = s.finish_reason;
  });
  HandlerResult started = start_turn_(std::move(generation), std::move(collector));
  if (auto* refused = std::get_if<HttpReply>(&started)) return fail(std::move(*refused));
  auto* job = std::get_if<std::shared_ptr<ResponseJob>>(&started);
  if (!job) return fail(error_reply(ApiError::internal("a turn could not start"), ApiFlavor::kOpenAI));
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
    return fail(error_reply(ApiError::internal("cancelled"), ApiFlavor::kOpenAI));
  const bool cut_off = turn.finish == FinishReason::kLength;

  OutputBuilder builder(turn.format);
  EventWriter unused;
  builder.feed(turn.text, unused, nullptr);
  builder.finish(cut_off, unused, nullptr);
  calls_.clear();
  bool client_call = false;
  for (const Json& item : builder.items()) {
    const Server* server = nullptr;
    if (item["type"] == "function_call")
      for (const Server& s : servers_)
        for (const auto& t : s.tools)
          if (t.name == item["name"]) server = &s;
    if (!server) {
      client_call |= item["type"] == "function_call";
      output_.push_back(item);
      conversation_.push_back(item);
      continue;
    }
    PendingCall call;
    call.output_index = output_.size();
    call.server_label = server->ref.label;
    call.client = server->client;
    call.name = item["name"];
    call.arguments = item["arguments"];
    call.call_id = item["call_id"];
    call.item_id = random_id("mcp_");
    output_.push_back(nullptr);  // its mcp_call item, once the call has run
    conversation_.push_back(item);
    calls_.push_back(std::move(call));
  }
  // Calls that will not run are listed with the reason, and the response ends.
  auto not_called = [this](const std::string& why) {
    for (PendingCall& c : calls_) {
      c.outcome.error = "not called: " + why;
      output_[c.output_index] =
          mcp_call_item(c.item_id, c.server_label, c.name, c.arguments, c.outcome);
      output_[c.output_index]["status"] = "incomplete";
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

void ToolLoopJob::on_calls_done() {
  std::vector<PendingCall> calls = std::move(worker_->calls);
  worker_.reset();
  for (const PendingCall& c : calls) {
    ++num_calls_;
    output_[c.output_index] =
        mcp_call_item(c.item_id, c.server_label, c.name, c.arguments, c.outcome);
    conversation_.push_back({{"type", "function_call_output"},
                             {"call_id", c.call_id},
                             {"output", mcp_outcome_text(c.outcome)}});
  }
  if (cancelled_->load())
    return fail(error_reply(ApiError::internal("cancelled"), ApiFlavor::kOpenAI));
  // A client's function call in the same turn goes back to the client, with what the MCP
  // calls returned already in the response.
  if (client_call_pending_) return finish("completed", nullptr);
  start_next_turn();
}

void ToolLoopJob::finish(const std::string& status, Json incomplete) {
  phase_ = Phase::kDone;
  Json response = responses_object(meta_, request_.echo, status, output_,
                                   responses_usage_json(usage_), std::move(incomplete), nullptr);
  reply_ = HttpReply{};
  reply_.body = dump_json(response);
  if (store_)
    store_response(*store_, meta_.id, std::move(response), request_.previous,
                   request_.input_items, output_);
}

void ToolLoopJob::fail(HttpReply reply) {
  phase_ = Phase::kDone;
  reply_ = std::move(reply);
}

HttpReply ToolLoopJob::reply() { return reply_; }

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
