#include "server/openai/chat.h"

#include "server/chat_prompt.h"
#include "server/json_fields.h"
#include "server/openai/logprobs.h"
#include "server/openai/sampling.h"
#include "server/openai/structured_output.h"
#include "server/http/sse.h"

namespace kiln::server {
namespace {

void read_stream_options(FieldReader& f, ChatCompletionRequest& r) {
  const Json* options = f.object("stream_options");
  if (!options) return;
  if (!r.stream) return f.fail("stream_options", "is only allowed when stream is true");
  FieldReader o(*options, "stream_options.");
  r.include_usage = o.boolean("include_usage").value_or(false);
  o.boolean("continuous_usage_stats");
  if (!o.ok()) f.fail(o.error());
}

void read_logprobs(FieldReader& f, ChatCompletionRequest& r) {
  r.logprobs = f.boolean("logprobs").value_or(false);
  const std::optional<int64_t> top = f.integer("top_logprobs");
  if (top && (*top < 0 || *top > SamplingParams::kMaxLogprobs))
    return f.fail("top_logprobs", "must be in [0, " + std::to_string(SamplingParams::kMaxLogprobs) +
                                      "], got " + std::to_string(*top));
  if (top && *top > 0 && !r.logprobs) return f.fail("top_logprobs", "needs logprobs set to true");
  r.generation.sampling.logprobs = r.logprobs ? (int32_t)top.value_or(0) : -1;
}

class ChatStreamFormatter final : public ResponseFormatter {
 public:
  ChatStreamFormatter(const ChatCompletionRequest& r, const Tokenizer& tokenizer, ResponseMeta meta)
      : tokenizer_(tokenizer),
        meta_(std::move(meta)),
        n_(r.generation.sampling.n),
        include_usage_(r.include_usage),
        logprobs_(r.logprobs) {
    if (r.tools.parse_format)
      for (int32_t i = 0; i < n_; ++i) tool_streams_.emplace_back(*r.tools.parse_format);
  }

  void on_output(size_t, const RequestOutput& out, std::string& body) override {
    usage_.prompt_tokens = out.num_prompt_tokens;
    usage_.cached_tokens = out.num_cached_tokens;
    if (!sent_role_) {
      // OpenAI opens each choice with a chunk carrying only the role.
      sent_role_ = true;
      for (int32_t i = 0; i < n_; ++i)
        append(body, choice(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr, {}));
    }
    for (size_t i = 0; i < out.samples.size(); ++i) {
      const SampleOutput& s = out.samples[i];
      usage_.completion_tokens += (int64_t)s.token_ids.size();
      const bool has_logprobs = logprobs_ && !s.logprobs.empty();
      if (s.text.empty() && !s.finish_reason && !has_logprobs) continue;
      // The choice's deltas: its text as is, or (with tools) content and tool-call deltas.
      std::vector<Json> deltas;
      bool called = false;
      if (!tool_streams_.empty()) {
        OpenAIToolCallStream& ts = tool_streams_[i];
        ts.feed(s.text, deltas);
        if (s.finish_reason) ts.finish(deltas);
        called = ts.has_calls();
      } else if (!s.text.empty()) {
        deltas.push_back({{"content", s.text}});
      }
      if (deltas.empty() && (has_logprobs || s.finish_reason))
        deltas.push_back(has_logprobs ? Json{{"content", ""}} : Json::object());
      for (size_t d = 0; d < deltas.size(); ++d) {
        // Logprobs ride on the first chunk, the finish reason on the last.
        Json logprobs;
        if (logprobs_ && d == 0) logprobs = {{"content", chat_logprob_entries(tokenizer_, s.logprobs)}};
        Json finish;
        if (s.finish_reason && d + 1 == deltas.size())
          finish = called && *s.finish_reason == FinishReason::kStop
                       ? "tool_calls"
                       : openai_finish_reason(*s.finish_reason);
        append(body, choice((int32_t)i, std::move(deltas[d]), std::move(logprobs),
                            std::move(finish), s.stop_cause));
      }
    }
  }

  void on_finished(std::string& body) override {
    if (include_usage_) {
      Json chunk = base();
      chunk["choices"] = Json::array();
      chunk["usage"] = openai_usage_json(usage_);
      append_sse_data(body, chunk);
    }
    body += kSseDone;
  }

  void on_stream_error(const ApiError& error, std::string& body) override {
    body += "data: " + error_body(error, ApiFlavor::kOpenAI) + "\n\n";
    body += kSseDone;
  }

 private:
  Json base() const {
    return {{"id", meta_.id},
            {"object", "chat.completion.chunk"},
            {"created", meta_.created},
            {"model", meta_.model}};
  }
  Json choice(int32_t index, Json delta, Json logprobs, Json finish,
              const StopCause& stop) const {
    return {{"index", index},
            {"delta", std::move(delta)},
            {"logprobs", std::move(logprobs)},
            {"finish_reason", std::move(finish)},
            {"stop_reason", openai_stop_reason(stop)}};
  }
  void append(std::string& body, Json choice) const {
    Json chunk = base();
    chunk["choices"] = Json::array({std::move(choice)});
    // With include_usage every chunk carries "usage": null until the last one (OpenAI's shape).
    if (include_usage_) chunk["usage"] = nullptr;
    append_sse_data(body, chunk);
  }

  const Tokenizer& tokenizer_;
  const ResponseMeta meta_;
  const int32_t n_;
  const bool include_usage_, logprobs_;
  bool sent_role_ = false;
  Usage usage_;
  std::vector<OpenAIToolCallStream> tool_streams_;  // per choice, when calls are parsed
};

class ChatBufferedFormatter final : public ResponseFormatter {
 public:
  ChatBufferedFormatter(const ChatCompletionRequest& r, const Tokenizer& tokenizer,
                        ResponseMeta meta)
      : tokenizer_(tokenizer), meta_(std::move(meta)), logprobs_(r.logprobs), tools_(r.tools) {}

  void on_output(size_t, const RequestOutput& out, std::string&) override { collected_.add(out); }

  void on_finished(std::string& body) override {
    Usage usage;
    usage.prompt_tokens = collected_.num_prompt_tokens;
    usage.cached_tokens = collected_.num_cached_tokens;
    Json choices = Json::array();
    for (size_t i = 0; i < collected_.samples.size(); ++i) {
      const CollectedSample& s = collected_.samples[i];
      usage.completion_tokens += (int64_t)s.token_ids.size();
      Json logprobs;
      if (logprobs_) logprobs = {{"content", chat_logprob_entries(tokenizer_, s.logprobs)}};
      OpenAIMessageParts parts = openai_message_parts(tools_, s.text);
      const FinishReason reason = s.finish_reason.value_or(FinishReason::kAbort);
      const bool called = !parts.tool_calls.is_null();
      Json message = {{"role", "assistant"}, {"content", std::move(parts.content)}, {"refusal", nullptr}};
      if (called) message["tool_calls"] = std::move(parts.tool_calls);
      choices.push_back(
          {{"index", i},
           {"message", std::move(message)},
           {"logprobs", std::move(logprobs)},
           {"finish_reason",
            called && reason == FinishReason::kStop ? "tool_calls" : openai_finish_reason(reason)},
           {"stop_reason", openai_stop_reason(s.stop_cause)}});
    }
    body = dump_json({{"id", meta_.id},
                      {"object", "chat.completion"},
                      {"created", meta_.created},
                      {"model", meta_.model},
                      {"choices", std::move(choices)},
                      {"usage", openai_usage_json(usage)}});
  }

  void on_stream_error(const ApiError&, std::string&) override {}

 private:
  const Tokenizer& tokenizer_;
  const ResponseMeta meta_;
  const bool logprobs_;
  const OpenAIToolSettings tools_;
  CollectedOutput collected_;
};

}  // namespace

ApiResult<ChatCompletionRequest> parse_chat_completion_request(const Json& body,
                                                               const ModelContext& model) {
  FieldReader f(body);
  ChatCompletionRequest r;
  f.require("model");
  r.model = f.string("model").value_or("");
  f.require("messages");
  const Json* messages = f.array("messages");
  if (!f.ok()) return f.error();
  if (!model.serves(r.model)) return ApiError::model_not_found(r.model);

  ChatPromptOptions prompt_options;
  prompt_options.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
  prompt_options.continue_final_message = f.boolean("continue_final_message").value_or(false);
  if (const Json* kwargs = f.object("chat_template_kwargs"))
    prompt_options.template_kwargs = *kwargs;
  if (f.boolean("echo").value_or(false))
    f.fail("echo", "is not supported: kiln does not return the prompt with the answer");
  if (const Json* modalities = f.array("modalities"))
    for (const Json& m : *modalities)
      if (m != "text") f.fail("modalities", "may only hold \"text\"");
  if (f.has("audio")) f.fail("audio", "is not supported: kiln serves text-only models");
  r.stream = f.boolean("stream").value_or(false);
  read_stream_options(f, r);
  read_logprobs(f, r);
  read_openai_sampling(f, {}, r.generation);
  if (!f.ok()) return f.error();
  read_structured_output(f, model, r.generation);  // after the cheap checks: it may compile
  r.tools = read_openai_tools(f, model, prompt_options.tools, r.generation);
  if (!f.ok()) return f.error();

  auto normalized = normalize_openai_messages(*messages);
  if (!normalized.ok()) return normalized.error();
  auto text = render_chat_prompt(model, *normalized, prompt_options);
  if (!text.ok()) return text.error();
  r.generation.prompt = tokenize_chat_prompt(model, *text);
  return r;
}

std::unique_ptr<ResponseFormatter> make_chat_formatter(const ChatCompletionRequest& request,
                                                       const Tokenizer& tokenizer,
                                                       ResponseMeta meta) {
  if (request.stream)
    return std::make_unique<ChatStreamFormatter>(request, tokenizer, std::move(meta));
  return std::make_unique<ChatBufferedFormatter>(request, tokenizer, std::move(meta));
}

}  // namespace kiln::server
