// The server-side tool loop of /v1/responses: a ResponseJob that answers a request whose
// tools include MCP servers (mcp_tools.h). On the connection's strand it runs
//   list: every server's tools, on a worker thread (connecting as needed);
//   turn: one generation, through the same start_generation path as every request (its own
//         admission ticket, key budgets, a GenerationJob that frees the turn's KV blocks);
//   call: the MCP calls the turn made, on a worker thread, one after another;
// and goes from call back to turn with the calls and their results appended to the
// conversation, until a turn calls no MCP tool (or calls a client's function tool, which goes
// back to the client as today), the response's max_output_tokens is spent, or
// --max-tool-turns rounds of calls have run. No HTTP thread waits on a tool: the workers wake
// the connection, as the engine does.
//
// The response: an mcp_list_tools item per server, then each turn's items with its MCP calls
// as mcp_call items (mcp_items.h); usage summed over the turns. Streamed (stream: true), the
// events are the Responses API's: response.created and .in_progress; per server
// output_item.added, response.mcp_list_tools.in_progress, then .completed or .failed and
// output_item.done; each turn's items as they are generated (output.h), a server's call as
// output_item.added, response.mcp_call_arguments.delta and .done; then, around the call,
// response.mcp_call.in_progress and .completed or .failed, and output_item.done with the
// output; last response.completed or response.incomplete (response.failed for an error). Status "incomplete" with
// incomplete_details.reason "max_output_tokens", or "max_tool_turns" when the model asked for
// more calls after the last round allowed (those calls are listed, not run, with an error
// saying so). A failed turn (the server draining, at capacity) ends the response with that
// turn's error. The client leaving cancels the running turn or call; a worker still running
// holds only its own state.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "server/generation_job.h"
#include "server/model_context.h"
#include "server/response_meta.h"
#include "server/responses/mcp_items.h"
#include "server/responses/output.h"
#include "server/responses/request.h"

namespace kiln::server {

class ToolLoopJob final : public ResponseJob {
 public:
  // Starts one turn's generation (never streaming): a job, or the reply refusing it.
  using StartTurn =
      std::function<HandlerResult(GenerationRequest, std::unique_ptr<ResponseFormatter>)>;

  // `request.tool_loop` must be set. `hold` keeps `model` alive; `store` may be null.
  ToolLoopJob(ResponsesRequest request, ResponseMeta meta, ResponseStore* store,
              const ModelContext& model, std::shared_ptr<const void> hold, McpOptions options,
              StartTurn start_turn);
  ~ToolLoopJob() override;

  bool streaming() const override { return streaming_; }
  void start(std::function<void()> wake) override;
  bool poll(std::string& body) override;
  HttpReply reply() override;
  void cancel() override;
  std::string summary() const override;

 private:
  struct Server;
  struct PendingCall;
  struct Worker;
  struct Turn;

  void on_listed();
  void start_next_turn();
  void on_turn_done();
  void on_calls_done();
  void finish(const std::string& status, Json incomplete);
  void fail(HttpReply reply);
  void fail(const ApiError& error) { fail(error_reply(error, ApiFlavor::kOpenAI)); }
  void end_call(size_t index);  // announces the mcp_call item at output_[index] as done
  std::string* events() { return streaming_ ? &events_ : nullptr; }
  void run_on_worker(std::function<void(Worker&)> work);

  const std::shared_ptr<const void> hold_;  // first, so released last
  const ModelContext& model_;
  const ResponseMeta meta_;
  ResponseStore* const store_;
  const McpOptions options_;
  const StartTurn start_turn_;
  ResponsesRequest request_;
  const ToolLoopPlan& plan_;
  const bool streaming_;

  // Strand-only state.
  enum class Phase { kListing, kGenerating, kCalling, kDone } phase_ = Phase::kListing;
  std::function<void()> wake_;
  std::vector<Server> servers_;
  std::shared_ptr<Worker> worker_;  // the phase's background work, when one runs
  std::shared_ptr<Turn> turn_;      // the running turn's collected output
  std::optional<OutputBuilder> builder_;  // the running turn's items
  EventWriter writer_;
  std::string events_;  // stream events not yet handed to the connection
  std::vector<PendingCall> calls_;  // the round of calls being made
  Json conversation_;               // what the next turn's prompt is rendered from
  Json output_ = Json::array();     // the response's items
  Usage usage_;
  int rounds_ = 0;  // rounds of MCP calls made
  int num_calls_ = 0;
  bool client_call_pending_ = false;  // the round's turn also called a client's tool
  HttpReply reply_;

  std::mutex inner_mu_;  // cancel() may come from any thread
  std::shared_ptr<ResponseJob> inner_;
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace kiln::server
