#include "server/anthropic/messages.h"

#include "server/anthropic/conversation.h"
#include "server/anthropic/tools.h"
#include "server/chat_prompt.h"
#include "server/json_fields.h"
#include "server/http/sse.h"
#include "server/openai/structured_output.h"
#include "structured/json_schema_compiler.h"

namespace kiln::server {
namespace {

// Anthropic's JSON outputs: output_config.format = {"type": "json_schema", "schema"}, or
// output_format, its deprecated beta name, of the same shape. Constrained like OpenAI's
// response_format json_schema. `compile` false: checked only (count_tokens).
void read_output_format(FieldReader& f, const ModelContext& model, bool compile,
                        GenerationRequest& request) {
  const Json* format = nullptr;
  std::string where;
  if (const Json* config = f.object("output_config")) {
    FieldReader c(*config, "output_config.");
    format = c.object("format");
    if (!c.ok()) return f.fail(c.error());
    where = "output_config.format";
  }
  if (const Json* legacy = f.object("output_format")) {
    if (format)
      return f.fail("output_format",
                    "cannot be given with output_config.format (it is that field's deprecated "
                    "name)");
    format = legacy;
    where = "output_format";
  }
  if (!format || !f.ok()) return;
  FieldReader o(*format, where + ".");
  o.require("type");
  const std::string type = o.string("type").value_or("");
  if (!o.ok()) return f.fail(o.error());
  if (type != "json_schema") {
    const std::string what = "must be \"json_schema\" (the only output format kiln supports)";
    return f.fail(where + ".type", what + ", got \"" + type + "\"");
  }
  o.require("schema");
  const Json* schema = o.object("schema");
  if (!o.ok()) return f.fail(o.error());
  auto grammar = structured::grammar_from_json_schema(*schema);
  if (!grammar.ok())
    return f.fail(
        ApiError::bad_request(where + ".schema: " + grammar.message(), where + ".schema"));
  if (compile) attach_grammar(f, where, model, *grammar, request);
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
  MessagesFormatterBase(const MessagesRequest& request, ResponseMeta meta)
      : meta_(std::move(meta)), tool_format_(request.tool_format) {}

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
  // "tool_use" when the answer made calls and ended on its own (not cut off, no stop
  // sequence), as Anthropic reports a turn that waits for tool results.
  const char* stop_reason(bool has_calls) const {
    const FinishReason finish = finish_.value_or(FinishReason::kAbort);
    if (has_calls && finish == FinishReason::kStop && !stop_sequence_) return "tool_use";
    return stop_reason_name(finish, stop_sequence_.has_value());
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
  const std::optional<tool_calls::ToolCallFormat> tool_format_;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0, output_tokens_ = 0;
  std::optional<FinishReason> finish_;
  std::optional<std::string> stop_sequence_;
};

class MessagesStreamFormatter final : public MessagesFormatterBase {
 public:
  MessagesStreamFormatter(const MessagesRequest& request, ResponseMeta meta)
      : MessagesFormatterBase(request, std::move(meta)), blocks_(request.tool_format) {}

  void on_output(size_t, const RequestOutput& out, std::string& body) override {
    const std::string text = take(out);
    start(body);
    blocks_.feed(text, body);
  }

  void on_finished(std::string& body) override {
    start(body);
    blocks_.finish(body);
    append_sse_event(body, "message_delta",
                     {{"type", "message_delta"},
                      {"delta",
                       {{"stop_reason", stop_reason(blocks_.has_calls())},
                        {"stop_sequence", stop_sequence_json()}}},
                      {"usage", usage_json(prompt_tokens_, cached_tokens_, output_tokens_)}});
    append_sse_event(body, "message_stop", {{"type", "message_stop"}});
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    body += "event: error\ndata: " + error_body(error, ApiFlavor::kAnthropic) + "\n\n";
  }

 private:
  // message_start waits for the first output, which brings the cached-token count. A plain
  // text answer opens its one text block at once; with tools the first block is known only
  // once the output shows whether it starts with text or a call.
  void start(std::string& body) {
    if (started_) return;
    started_ = true;
    append_sse_event(body, "message_start",
                     {{"type", "message_start"},
                      {"message", message_json(Json::array(), nullptr, nullptr,
                                               usage_json(prompt_tokens_, cached_tokens_, 0))}});
    if (!tool_format_) blocks_.open_text(body);
    append_sse_event(body, "ping", {{"type", "ping"}});
  }

  bool started_ = false;
  AnthropicBlockStream blocks_;
};

class MessagesBufferedFormatter final : public MessagesFormatterBase {
 public:
  using MessagesFormatterBase::MessagesFormatterBase;

  void on_output(size_t, const RequestOutput& out, std::string&) override { text_ += take(out); }

  void on_finished(std::string& body) override {
    AnthropicContent content = anthropic_content(tool_format_, text_);
    body = dump_json(message_json(std::move(content.blocks), stop_reason(content.has_calls),
                                  stop_sequence_json(),
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

  if (const Json* thinking = f.object("thinking");
      thinking && thinking->value("type", "") == "enabled")
    f.fail("thinking", "is not supported: kiln has no extended thinking");
  f.object("metadata");

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

  auto chat = anthropic_template_messages(f.any("system"), *messages);
  if (!chat.ok()) return chat.error();
  // The constraints last: they may compile a grammar. count_tokens only checks them.
  ChatPromptOptions options;
  read_output_format(f, model, !for_count_tokens, r.generation);
  r.tool_format = read_anthropic_tools(f, model, !for_count_tokens, options.tools, r.generation);
  if (!f.ok()) return f.error();
  options.continue_final_message = chat->back()["role"] == "assistant";
  auto text = render_chat_prompt(model, *chat, options);
  if (!text.ok()) return text.error();
  r.generation.prompt = tokenize_chat_prompt(model, *text);
  return r;
}

std::unique_ptr<ResponseFormatter> make_messages_formatter(const MessagesRequest& request,
                                                           ResponseMeta meta) {
  if (request.stream) return std::make_unique<MessagesStreamFormatter>(request, std::move(meta));
  return std::make_unique<MessagesBufferedFormatter>(request, std::move(meta));
}

}  // namespace kiln::server
