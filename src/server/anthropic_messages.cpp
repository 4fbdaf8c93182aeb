#include "server/anthropic_messages.h"

#include "server/chat_prompt.h"
#include "server/json_fields.h"
#include "server/sse.h"

namespace kiln::server {
namespace {

// Text blocks joined with "\n"; other block types are refused.
ApiResult<std::string> text_of(const Json& content, const std::string& where) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    return ApiError::bad_request(where + " must be a string or an array of content blocks", where);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    const Json& block = content[j];
    if (!block.is_object() || !block.contains("type") || !block["type"].is_string())
      return ApiError::bad_request(at + " must be an object with a string `type`", at);
    const std::string type = block["type"].get<std::string>();
    if (type != "text")
      return ApiError::bad_request(
          at + ": content blocks of type \"" + type + "\" are not supported (text only)", at);
    if (!block.contains("text") || !block["text"].is_string())
      return ApiError::bad_request(at + ".text must be a string", at + ".text");
    if (j > 0) text += "\n";
    text += block["text"].get<std::string>();
  }
  return text;
}

// Anthropic's system + messages as the chat template's messages.
ApiResult<Json> template_messages(FieldReader& f, const Json& messages) {
  Json out = Json::array();
  if (const Json* system = f.any("system")) {
    auto text = text_of(*system, "system");
    if (!text.ok()) return text.error();
    out.push_back({{"role", "system"}, {"content", *text}});
  }
  if (messages.empty())
    return ApiError::bad_request("messages must contain at least one message", "messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const Json& m = messages[i];
    if (!m.is_object()) return ApiError::bad_request(at + " must be an object", at);
    const std::string role =
        m.contains("role") && m["role"].is_string() ? m["role"].get<std::string>() : "";
    if (role != "user" && role != "assistant")
      return ApiError::bad_request(at + ".role must be \"user\" or \"assistant\"", at + ".role");
    if (!m.contains("content"))
      return ApiError::bad_request(at + ".content is required", at + ".content");
    auto text = text_of(m["content"], at + ".content");
    if (!text.ok()) return text.error();
    out.push_back({{"role", role}, {"content", *text}});
  }
  return out;
}

const char* stop_reason_name(FinishReason reason, bool stop_sequence) {
  if (stop_sequence) return "stop_sequence";
  return reason == FinishReason::kLength ? "max_tokens" : "end_turn";
}

Json usage_json(int64_t prompt_tokens, int64_t cached_tokens, int64_t output_tokens) {
  // Anthropic's input_tokens leaves out the tokens read from the cache.
  return {{"input_tokens", prompt_tokens - cached_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", cached_tokens},
          {"output_tokens", output_tokens}};
}

class MessagesFormatterBase : public ResponseFormatter {
 public:
  explicit MessagesFormatterBase(ResponseMeta meta) : meta_(std::move(meta)) {}

 protected:
  // Notes counts and finish; returns the text to show.
  std::string take(const RequestOutput& out) {
    prompt_tokens_ = out.num_prompt_tokens;
    cached_tokens_ = out.num_cached_tokens;
    if (out.samples.empty()) return {};
    const SampleOutput& s = out.samples[0];
    output_tokens_ += (int64_t)s.token_ids.size();
    if (s.finish_reason) {
      finish_ = *s.finish_reason;
      stop_sequence_ = s.stop_cause.string;
    }
    return s.text;
  }
  Json stop_sequence_json() const { return stop_sequence_ ? Json(*stop_sequence_) : Json(); }
  const char* stop_reason() const {
    return stop_reason_name(finish_.value_or(FinishReason::kAbort), stop_sequence_.has_value());
  }
  Json message_json(Json content, Json stop_reason, Json stop_sequence, Json usage) const {
    return {{"id", meta_.id},
            {"type", "message"},
            {"role", "assistant"},
            {"model", meta_.model},
            {"content", std::move(content)},
            {"stop_reason", std::move(stop_reason)},
            {"stop_sequence", std::move(stop_sequence)},
            {"usage", std::move(usage)}};
  }

  const ResponseMeta meta_;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, output_tokens_ = 0;
  std::optional<FinishReason> finish_;
  std::optional<std::string> stop_sequence_;
};

class MessagesStreamFormatter final : public MessagesFormatterBase {
 public:
  using MessagesFormatterBase::MessagesFormatterBase;

  void on_output(size_t, const RequestOutput& out, std::string& body) override {
    const std::string text = take(out);
    start(body);
    if (text.empty()) return;
    append_sse_event(body, "content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", 0},
                      {"delta", {{"type", "text_delta"}, {"text", text}}}});
  }

  void on_finished(std::string& body) override {
    start(body);
    append_sse_event(body, "content_block_stop", {{"type", "content_block_stop"}, {"index", 0}});
    append_sse_event(
        body, "message_delta",
        {{"type", "message_delta"},
         {"delta", {{"stop_reason", stop_reason()}, {"stop_sequence", stop_sequence_json()}}},
         {"usage", usage_json(prompt_tokens_, cached_tokens_, output_tokens_)}});
    append_sse_event(body, "message_stop", {{"type", "message_stop"}});
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    body += "event: error\ndata: " + error_body(error, ApiFlavor::kAnthropic) + "\n\n";
  }

 private:
  // message_start waits for the first output, which brings the cached-token count.
  void start(std::string& body) {
    if (started_) return;
    started_ = true;
    append_sse_event(body, "message_start",
                     {{"type", "message_start"},
                      {"message", message_json(Json::array(), nullptr, nullptr,
                                               usage_json(prompt_tokens_, cached_tokens_, 0))}});
    append_sse_event(body, "content_block_start",
                     {{"type", "content_block_start"},
                      {"index", 0},
                      {"content_block", {{"type", "text"}, {"text", ""}}}});
    append_sse_event(body, "ping", {{"type", "ping"}});
  }

  bool started_ = false;
};

class MessagesBufferedFormatter final : public MessagesFormatterBase {
 public:
  using MessagesFormatterBase::MessagesFormatterBase;

  void on_output(size_t, const RequestOutput& out, std::string&) override { text_ += take(out); }

  void on_finished(std::string& body) override {
    Json content = Json::array({{{"type", "text"}, {"text", text_}}});
    body = dump_json(message_json(std::move(content), stop_reason(), stop_sequence_json(),
                                  usage_json(prompt_tokens_, cached_tokens_, output_tokens_)));
  }

  void on_stream_error(const ApiError&, std::string&) override {}

 private:
  std::string text_;
};

}  // namespace

ApiResult<MessagesRequest> parse_messages_request(const Json& body, const ModelContext& model,
                                                  bool for_count_tokens) {
  FieldReader f(body);
  MessagesRequest r;
  f.require("model");
  r.model = f.string("model").value_or("");
  f.require("messages");
  const Json* messages = f.array("messages");
  if (!for_count_tokens) f.require("max_tokens");
  if (!f.ok()) return f.error();
  if (!model.serves(r.model)) return ApiError::model_not_found(r.model);

  if (const Json* tools = f.array("tools"); tools && !tools->empty())
    f.fail("tools", "are not supported: kiln does not parse tool use yet");
  if (const Json* thinking = f.object("thinking");
      thinking && thinking->value("type", "") == "enabled")
    f.fail("thinking", "is not supported: kiln has no extended thinking");
  f.object("metadata");
  if (const Json* output = f.object("output_config");
      output && output->contains("format") && !(*output)["format"].is_null())
    f.fail("output_config", "format is not supported: kiln has no structured output yet");

  SamplingParams& p = r.generation.sampling;
  if (!for_count_tokens) {
    const int64_t max_tokens = f.integer("max_tokens").value_or(1);
    if (max_tokens < 1) f.fail("max_tokens", "must be >= 1, got " + std::to_string(max_tokens));
    p.max_tokens = (int32_t)std::min<int64_t>(max_tokens, INT32_MAX);
    if (auto t = f.number("temperature")) {
      if (*t < 0 || *t > 1) f.fail("temperature", "must be in [0, 1]");
      p.temperature = (float)*t;
    }
    if (auto v = f.number("top_p")) p.top_p = (float)*v;
    if (auto v = f.integer("top_k")) {
      if (*v < 0) f.fail("top_k", "must be >= 0");
      p.top_k = (int32_t)std::min<int64_t>(*v, INT32_MAX);
    }
    r.stream = f.boolean("stream").value_or(false);
    if (const Json* stops = f.array("stop_sequences")) {
      for (const Json& s : *stops) {
        if (!s.is_string() || s.get<std::string>().empty()) {
          f.fail("stop_sequences", "must be an array of non-empty strings");
          break;
        }
        r.stop_sequences.push_back(s.get<std::string>());
      }
    }
    p.stop = r.stop_sequences;
  }
  if (!f.ok()) return f.error();

  auto chat = template_messages(f, *messages);
  if (!chat.ok()) return chat.error();
  ChatPromptOptions options;
  options.continue_final_message = chat->back()["role"] == "assistant";
  auto text = render_chat_prompt(model, *chat, options);
  if (!text.ok()) return text.error();
  r.generation.prompt = tokenize_chat_prompt(model, *text);
  return r;
}

std::unique_ptr<ResponseFormatter> make_messages_formatter(const MessagesRequest& request,
                                                           ResponseMeta meta) {
  if (request.stream) return std::make_unique<MessagesStreamFormatter>(std::move(meta));
  return std::make_unique<MessagesBufferedFormatter>(std::move(meta));
}

}  // namespace kiln::server
