#include "server/responses/formatter.h"

#include "server/responses/output.h"

namespace kiln::server {
namespace {

const char* status_for(std::optional<FinishReason> finish) {
  if (finish == FinishReason::kStop) return "completed";
  if (finish == FinishReason::kLength) return "incomplete";
  return "cancelled";  // aborted in the engine (the client went away)
}

class ResponsesFormatter final : public ResponseFormatter {
 public:
  ResponsesFormatter(const ResponsesRequest& r, ResponseMeta meta, ResponseStore* store)
      : meta_(std::move(meta)),
        echo_(r.echo),
        streaming_(r.stream),
        store_(r.store ? store : nullptr),
        previous_(r.previous),
        input_items_(r.input_items),
        builder_(r.tool_format) {}

  void on_output(size_t, const RequestOutput& out, std::string& body) override {
    usage_.prompt_tokens = out.num_prompt_tokens;
    usage_.cached_tokens = out.num_cached_tokens;
    std::string* events = streaming_ ? &body : nullptr;
    start(events);
    if (out.samples.empty()) return;
    const SampleOutput& s = out.samples[0];
    usage_.completion_tokens += (int64_t)s.token_ids.size();
    if (s.finish_reason) finish_ = s.finish_reason;
    builder_.feed(s.text, writer_, events);
  }

  void on_finished(std::string& body) override {
    std::string* events = streaming_ ? &body : nullptr;
    start(events);
    builder_.finish(finish_ == FinishReason::kLength, writer_, events);
    const std::string status = status_for(finish_);
    Json incomplete;
    if (finish_ == FinishReason::kLength) incomplete = {{"reason", "max_output_tokens"}};
    Json response = response_json(status, builder_.items(), responses_usage_json(usage_),
                                  std::move(incomplete), nullptr);
    if (streaming_) {
      const char* type = status == "completed"    ? "response.completed"
                         : status == "incomplete" ? "response.incomplete"
                                                  : "response.failed";
      writer_.emit(events, {{"type", type}, {"response", response}});
    } else {
      body = dump_json(response);
    }
    if (store_ && status != "cancelled") keep(std::move(response));
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    start(&body);
    Json err = {{"code", error.status == 429 ? "rate_limit_exceeded" : "server_error"},
                {"message", error.message}};
    writer_.emit(&body, {{"type", "response.failed"},
                         {"response", response_json("failed", builder_.items(),
                                                    responses_usage_json(usage_), nullptr,
                                                    std::move(err))}});
  }

 private:
  // The stream opens with the response as it stands: in progress, no output yet.
  void start(std::string* events) {
    if (started_) return;
    started_ = true;
    if (!events) return;
    for (const char* type : {"response.created", "response.in_progress"})
      writer_.emit(events, {{"type", type},
                            {"response", response_json("in_progress", Json::array(), nullptr,
                                                       nullptr, nullptr)}});
  }

  Json response_json(const std::string& status, Json output, Json usage, Json incomplete,
                     Json error) const {
    return responses_object(meta_, echo_, status, std::move(output), std::move(usage),
                            std::move(incomplete), std::move(error));
  }

  void keep(Json response) {
    store_response(*store_, meta_.id, std::move(response), previous_, input_items_,
                   builder_.items());
  }

  const ResponseMeta meta_;
  const Json echo_;
  const bool streaming_;
  ResponseStore* const store_;
  const ConversationPtr previous_;
  const Json input_items_;
  OutputBuilder builder_;
  EventWriter writer_;
  bool started_ = false;
  Usage usage_;
  std::optional<FinishReason> finish_;
};

}  // namespace

Json responses_object(const ResponseMeta& meta, const Json& echo, const std::string& status,
                      Json output, Json usage, Json incomplete, Json error) {
  return {{"id", meta.id},
          {"object", "response"},
          {"created_at", meta.created},
          {"status", status},
          {"background", false},
          {"error", std::move(error)},
          {"incomplete_details", std::move(incomplete)},
          {"instructions", echo["instructions"]},
          {"max_output_tokens", echo["max_output_tokens"]},
          {"model", meta.model},
          {"output", std::move(output)},
          {"parallel_tool_calls", echo["parallel_tool_calls"]},
          {"previous_response_id", echo["previous_response_id"]},
          {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
          {"store", echo["store"]},
          {"temperature", echo["temperature"]},
          {"text", echo["text"]},
          {"tool_choice", echo["tool_choice"]},
          {"tools", echo["tools"]},
          {"top_p", echo["top_p"]},
          {"truncation", "disabled"},
          {"usage", std::move(usage)},
          {"user", echo["user"]},
          {"metadata", echo["metadata"]}};
}

// The conversation so far is what this response continued, its input, then its output.
void store_response(ResponseStore& store, const std::string& id, Json response,
                    ConversationPtr previous, const Json& input_items, const Json& output_items) {
  auto segment = std::make_shared<ConversationSegment>();
  segment->parent = std::move(previous);
  segment->items = input_items;
  for (const Json& item : output_items) segment->items.push_back(item);
  store.put(id, StoredResponse{std::move(response), std::move(segment)});
}

Json responses_usage_json(const Usage& usage) {
  return {{"input_tokens", usage.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", usage.cached_tokens}}},
          {"output_tokens", usage.completion_tokens},
          {"output_tokens_details", {{"reasoning_tokens", 0}}},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

std::unique_ptr<ResponseFormatter> make_responses_formatter(const ResponsesRequest& request,
                                                            ResponseMeta meta,
                                                            ResponseStore* store) {
  return std::make_unique<ResponsesFormatter>(request, std::move(meta), store);
}

}  // namespace kiln::server
