#include "server/ollama/formatter.h"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "tool_calls/tool_call_parser.h"

namespace kiln::server::ollama {
namespace {

int64_t nanoseconds(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

bool stamped(Clock::time_point t) { return t.time_since_epoch().count() != 0; }

void append_line(std::string& body, const Json& object) {
  body += dump_json(object);
  body += '\n';
}

class OllamaFormatter final : public ResponseFormatter {
 public:
  OllamaFormatter(const OllamaRequest& r, OllamaTimes times)
      : model_(r.model),
        chat_(r.chat),
        stream_(r.stream),
        return_context_(r.return_context),
        prompt_(r.generation.prompt),
        times_(times) {
    if (r.tools.parse_format) parser_.emplace(*r.tools.parse_format);
  }

  void on_output(size_t, const RequestOutput& out, std::string& body) override {
    num_prompt_tokens_ = out.num_prompt_tokens;
    if (out.finished) engine_times_ = out.times;
    if (out.samples.empty()) return;
    const SampleOutput& s = out.samples[0];
    num_generated_ = s.num_generated;
    output_ids_.insert(output_ids_.end(), s.token_ids.begin(), s.token_ids.end());
    if (s.finish_reason) finish_reason_ = s.finish_reason;
    std::string content;
    Json calls = Json::array();
    if (parser_) {
      events_.clear();
      parser_->feed(s.text, events_);
      if (s.finish_reason) parser_->finish(events_);
      take_events(content, calls);
    } else {
      content = s.text;
    }
    if (!stream_) {
      text_ += content;
      for (Json& c : calls) calls_.push_back(std::move(c));
      return;
    }
    if (content.empty() && calls.empty()) return;
    Json line = base();
    if (chat_) {
      line["message"] = {{"role", "assistant"}, {"content", content}};
      if (!calls.empty()) line["message"]["tool_calls"] = std::move(calls);
    } else {
      line["response"] = content;
    }
    line["done"] = false;
    append_line(body, line);
  }

  void on_finished(std::string& body) override {
    Json line = base();
    if (chat_) {
      line["message"] = {{"role", "assistant"}, {"content", stream_ ? "" : text_}};
      if (!stream_ && !calls_.empty()) line["message"]["tool_calls"] = calls_;
    } else {
      line["response"] = stream_ ? "" : text_;
    }
    line["done"] = true;
    line["done_reason"] = finish_reason_name(finish_reason_.value_or(FinishReason::kAbort));
    if (return_context_) {
      Json context = Json::array();
      for (int32_t id : prompt_) context.push_back(id);
      for (int32_t id : output_ids_) context.push_back(id);
      line["context"] = std::move(context);
    }
    const auto now = Clock::now();
    line["total_duration"] = nanoseconds(now - times_.received);
    line["load_duration"] = nanoseconds(times_.model_ready - times_.received);
    line["prompt_eval_count"] = num_prompt_tokens_;
    const RequestTimes& t = engine_times_;
    line["prompt_eval_duration"] =
        stamped(t.first_token) && stamped(t.first_scheduled)
            ? nanoseconds(t.first_token - t.first_scheduled)
            : 0;
    line["eval_count"] = num_generated_;
    line["eval_duration"] =
        stamped(t.finished) && stamped(t.first_token) ? nanoseconds(t.finished - t.first_token) : 0;
    append_line(body, line);
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    // Ollama's clients read an "error" line in a stream and raise it.
    append_line(body, {{"error", error.message}});
  }

 private:
  Json base() const { return {{"model", model_}, {"created_at", ollama_timestamp()}}; }

  // Content and finished calls out of the parser's events. Ollama sends a call whole, its
  // arguments an object, once the call is complete.
  void take_events(std::string& content, Json& calls) {
    using Kind = tool_calls::ToolCallEvent::Kind;
    for (const auto& e : events_) {
      switch (e.kind) {
        case Kind::kContent:
          content += e.text;
          break;
        case Kind::kCallStart:
          call_name_ = e.text;
          call_args_.clear();
          break;
        case Kind::kArguments:
          call_args_ += e.text;
          break;
        case Kind::kCallEnd: {
          Json args = Json::parse(call_args_, nullptr, /*allow_exceptions=*/false);
          if (!args.is_object()) args = Json::object();
          calls.push_back({{"function",
                            {{"index", e.index}, {"name", call_name_}, {"arguments", args}}}});
          break;
        }
        case Kind::kCallInvalid:
          content += e.text;
          break;
      }
    }
  }

  const std::string model_;
  const bool chat_, stream_, return_context_;
  const std::vector<int32_t> prompt_;
  const OllamaTimes times_;
  std::optional<tool_calls::ToolCallParser> parser_;
  std::vector<tool_calls::ToolCallEvent> events_;
  std::string call_name_, call_args_;

  std::string text_;  // buffered answers
  Json calls_ = Json::array();
  std::vector<int32_t> output_ids_;
  int32_t num_prompt_tokens_ = 0, num_generated_ = 0;
  std::optional<FinishReason> finish_reason_;
  RequestTimes engine_times_;
};

}  // namespace

std::string ollama_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = (std::time_t)(ns / 1000000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                (long long)(ns % 1000000000));
  return buf;
}

std::unique_ptr<ResponseFormatter> make_ollama_formatter(const OllamaRequest& request,
                                                         OllamaTimes times) {
  return std::make_unique<OllamaFormatter>(request, times);
}

Json ollama_empty_answer(const OllamaRequest& request, const std::string& reason,
                         OllamaTimes times) {
  Json out = {{"model", request.model}, {"created_at", ollama_timestamp()}};
  if (request.chat)
    out["message"] = {{"role", "assistant"}, {"content", ""}};
  else
    out["response"] = "";
  out["done"] = true;
  out["done_reason"] = reason;
  if (reason == "length") {
    out["total_duration"] = nanoseconds(Clock::now() - times.received);
    out["load_duration"] = nanoseconds(times.model_ready - times.received);
    out["prompt_eval_count"] = (int64_t)request.generation.prompt.size();
    out["eval_count"] = 0;
  }
  return out;
}

}  // namespace kiln::server::ollama
