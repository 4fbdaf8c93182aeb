// Request bodies into GenerationRequests: typed field reading, OpenAI's sampling fields, chat
// messages through the template, completion prompts, Anthropic messages, and the 400/404
// errors (with `param`) that every mistake becomes.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "fake_backend.h"
#include "server/anthropic/conversation.h"
#include "server/anthropic/messages.h"
#include "server/chat_prompt.h"
#include "server/errors.h"
#include "server/json_fields.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/openai/sampling.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

using testing::byte_tokenizer;
using testing::test_model;

Json parse(const std::string& text) { return Json::parse(text); }

TEST(ServerFields, ParseJsonObjectRejectsMalformedAndNonObjects) {
  EXPECT_TRUE(parse_json_object(R"({"a": 1})").ok());
  for (const char* bad : {"{not json", "[1]", "\"s\"", "", "{\"a\": 1} trailing"}) {
    auto r = parse_json_object(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().status, 400);
  }
  // Deep nesting is refused before it can exhaust the stack of anything that recurses.
  const std::string deep = "{\"a\": " + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_FALSE(parse_json_object(deep).ok());
  const std::string brackets_in_string = "{\"a\": \"" + std::string(100, '[') + "\"}";
  EXPECT_TRUE(parse_json_object(brackets_in_string).ok());
}

TEST(ServerFields, TypedReadersNameTheFieldOfTheFirstMistake) {
  const Json body = parse(R"({"n": 2.0, "t": "x", "b": true, "f": 1.5, "z": null})");
  FieldReader f(body);
  EXPECT_EQ(f.integer("n"), 2);
  EXPECT_EQ(f.boolean("b"), true);
  EXPECT_EQ(f.number("f"), 1.5);
  EXPECT_FALSE(f.has("z"));
  EXPECT_FALSE(f.integer("z").has_value());
  EXPECT_TRUE(f.ok());
  EXPECT_FALSE(f.integer("f").has_value());  // 1.5 is not an integer
  EXPECT_FALSE(f.number("t").has_value());   // the second mistake is not recorded
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().param, "f");
  EXPECT_EQ(f.error().message, "f must be an integer, got number");

  FieldReader g(body, "stream_options.");
  g.require("include_usage");
  EXPECT_EQ(g.error().param, "stream_options.include_usage");
  FieldReader h(body);
  h.boolean("n");
  EXPECT_EQ(h.error().message, "n must be a boolean, got number");
}

TEST(ServerFields, ValidationMessagesBecomeParams) {
  EXPECT_EQ(ApiError::from_validation("top_p must be in (0, 1], got 1.5", "messages").param,
            "top_p");
  ApiError too_long = ApiError::from_validation(
      "this model's maximum context length is 8 tokens, but the prompt has 9 tokens", "prompt");
  EXPECT_EQ(too_long.param, "prompt");
  EXPECT_EQ(too_long.code, "context_length_exceeded");
  ApiError max_tokens = ApiError::from_validation(
      "max_tokens: this model's maximum context length is 8 tokens, but ...", "messages");
  EXPECT_EQ(max_tokens.param, "max_tokens");
  EXPECT_EQ(max_tokens.code, "context_length_exceeded");
  EXPECT_EQ(ApiError::from_validation("prompt contains token id 9", "messages").param, "messages");
  EXPECT_EQ(ApiError::from_validation("Something odd", "messages").param, "");
}

TEST(ServerSampling, ReadsOpenAIAndVllmFields) {
  const Json body = parse(R"({
    "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.1, "presence_penalty": 0.5,
    "frequency_penalty": -0.5, "repetition_penalty": 1.1, "logit_bias": {"5": 10, "7": -100},
    "seed": -1, "n": 3, "max_tokens": 7, "min_tokens": 2, "stop": "END",
    "stop_token_ids": [9], "ignore_eos": true, "include_stop_str_in_output": true,
    "skip_special_tokens": false, "priority": -1, "cache_salt": "s", "user": "u"})");
  FieldReader f(body);
  GenerationRequest r;
  read_openai_sampling(f, {}, r);
  ASSERT_TRUE(f.ok()) << f.error().message;
  const SamplingParams& p = r.sampling;
  EXPECT_FLOAT_EQ(p.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.1f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  ASSERT_EQ(p.logit_bias.size(), 2u);
  EXPECT_EQ(p.logit_bias[0], std::make_pair(5, 10.0f));
  EXPECT_EQ(p.seed, ~uint64_t{0});
  EXPECT_EQ(p.n, 3);
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(p.min_tokens, 2);
  EXPECT_EQ(p.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(p.stop_token_ids, std::vector<int32_t>{9});
  EXPECT_TRUE(p.ignore_eos && p.include_stop_str_in_output && !p.skip_special_tokens);
  EXPECT_EQ(r.priority, -1);
  EXPECT_EQ(r.cache_salt, "s");
}

TEST(ServerSampling, MaxCompletionTokensWinsAndDefaultsApply) {
  GenerationRequest r;
  Json body = parse(R"({"max_tokens": 5, "max_completion_tokens": 6})");
  FieldReader f(body);
  read_openai_sampling(f, {16}, r);
  EXPECT_EQ(r.sampling.max_tokens, 6);
  GenerationRequest d;
  Json empty = Json::object();
  FieldReader g(empty);
  read_openai_sampling(g, {16}, d);
  EXPECT_EQ(d.sampling.max_tokens, 16);
  EXPECT_FLOAT_EQ(d.sampling.temperature, 1.0f);
}

TEST(ServerSampling, RefusesWhatKilnDoesNotDo) {
  for (const char* body : {R"({"max_tokens": 0})", R"({"logit_bias": {"x": 1}})",
                           R"({"stop": [1]})", R"({"best_of": 3})", R"({"use_beam_search": true})",
                           R"({"stop_token_ids": ["a"]})"}) {
    Json j = parse(body);
    FieldReader f(j);
    GenerationRequest r;
    read_openai_sampling(f, {}, r);
    ASSERT_FALSE(f.ok()) << body;
    EXPECT_EQ(f.error().status, 400);
    EXPECT_FALSE(f.error().param.empty()) << body;
  }
  Json ok = parse(R"({"response_format": {"type": "text"}, "best_of": 2, "n": 2})");
  FieldReader f(ok);
  GenerationRequest r;
  read_openai_sampling(f, {}, r);
  EXPECT_TRUE(f.ok());
}

TEST(ServerChat, RendersMessagesThroughTheTemplate) {
  const ModelContext model = test_model();
  auto r = parse_chat_completion_request(parse(R"({
    "model": "tiny-alias", "stream": true, "stream_options": {"include_usage": true},
    "logprobs": true, "top_logprobs": 2, "temperature": 0,
    "messages": [{"role": "developer", "content": "Be brief."},
                 {"role": "user", "content": [{"type": "text", "text": "Hi"},
                                              {"type": "text", "text": "there"}]}]})"),
                                         model);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "tiny-alias");
  EXPECT_TRUE(r->stream && r->include_usage && r->logprobs);
  EXPECT_EQ(r->generation.sampling.logprobs, 2);
  EXPECT_EQ(r->generation.sampling.max_tokens, -1);
  EXPECT_EQ(byte_tokenizer().decode(r->generation.prompt),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi\nthere<|im_end|>\n"
            "<|im_start|>assistant\n");
  // Control tokens written by the template are parsed into their ids, not spelled out.
  EXPECT_EQ(r->generation.prompt.front(), 256);
}

TEST(ServerChat, ContinueFinalMessageLeavesTheTurnOpen) {
  auto r = parse_chat_completion_request(parse(R"({"model": "tiny", "continue_final_message": true,
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hel"}]})"),
                                         test_model());
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string text = byte_tokenizer().decode(r->generation.prompt);
  EXPECT_TRUE(text.ends_with("<|im_start|>assistant\nHel")) << text;
}

// Qwen2.5-Instruct's template as published (tests/reference/chat_templates/qwen2.5.jinja):
// its tool_calls branch renders `tool_call.arguments | tojson`.
const char* kQwen25Template = R"TPL({%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)TPL";

// What every OpenAI client sends back after a tool call: the assistant's turn with
// "content": null beside tool_calls whose arguments are a JSON string, then the result.
const char* kToolTurn = R"([
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "22C"}])";

TEST(ServerChat, AssistantToolCallsWithNullContentRender) {
  ModelContext model = test_model();
  model.chat_template = chat::ChatTemplate::parse(kQwen25Template).value();
  auto messages = normalize_openai_messages(parse(kToolTurn));
  ASSERT_TRUE(messages.ok()) << messages.error().message;
  ChatPromptOptions options;
  options.tools = parse(R"([{"type": "function", "function": {"name": "get_weather",
                                                               "parameters": {"type": "object"}}}])");
  auto text = render_chat_prompt(model, *messages, options);
  ASSERT_TRUE(text.ok()) << text.error().message;
  // The arguments string is parsed into an object first (vLLM does the same), so tojson
  // renders the object, not a quoted string. Python's jinja2 renders this exact text from
  // what vLLM passes the template (content "", arguments a dict).
  EXPECT_EQ(
      *text,
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
      "assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user "
      "query.\n\nYou are provided with function signatures within <tools></tools> XML "
      "tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
      "\"parameters\": {\"type\": \"object\"}}}\n</tools>\n\nFor each function call, return a "
      "json object with function name and arguments within <tool_call></tool_call> XML "
      "tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
      "<args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in "
      "Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", "
      "\"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n"
      "<tool_response>\n22C\n</tool_response><|im_end|>\n<|im_start|>assistant\n");

  // A template that concatenates message.content on every turn (ChatML) used to fail with
  // "'dict object' has no attribute 'content'"; the content is "" now.
  auto chatml = render_chat_prompt(test_model(), *messages, ChatPromptOptions{});
  ASSERT_TRUE(chatml.ok()) << chatml.error().message;
  EXPECT_NE(chatml->find("<|im_start|>assistant\n<|im_end|>\n<|im_start|>tool\n22C<|im_end|>"),
            std::string::npos)
      << *chatml;
}

TEST(ServerChat, ToolCallArgumentsAreObjectsForTemplates) {
  auto messages = normalize_openai_messages(parse(R"([
    {"role": "assistant", "tool_calls": [
      {"type": "function", "function": {"name": "a", "arguments": "{\"x\": [1, 2], \"b\": 1}"}},
      {"function": {"name": "b", "arguments": {"y": 1}}},
      {"function": {"name": "c", "arguments": ""}},
      {"function": {"name": "d"}},
      {"function": {"name": "e", "arguments": "not json"}},
      {"function": {"name": "f", "arguments": "[1]"}}]},
    {"role": "assistant", "content": "hi", "tool_calls": []}])"));
  ASSERT_TRUE(messages.ok()) << messages.error().message;
  const Json& calls = (*messages)[0]["tool_calls"];
  EXPECT_EQ((*messages)[0]["content"], "");
  EXPECT_EQ(calls[0]["function"]["arguments"].dump(), R"({"x":[1,2],"b":1})");  // order kept
  EXPECT_EQ(calls[1]["function"]["arguments"].dump(), R"({"y":1})");
  for (int i = 2; i < 6; ++i) EXPECT_EQ(calls[i]["function"]["arguments"], Json::object()) << i;
  EXPECT_FALSE((*messages)[1].contains("tool_calls"));  // empty: the plain assistant path
  // Arguments nested too deeply to copy and render safely are treated as malformed.
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"a":)";
  deep += "1" + std::string(100, '}');
  Json nested = parse(R"([{"role": "assistant", "tool_calls": [{"function": {"name": "g"}}]}])");
  nested[0]["tool_calls"][0]["function"]["arguments"] = deep;
  auto deep_result = normalize_openai_messages(nested);
  ASSERT_TRUE(deep_result.ok());
  EXPECT_EQ((*deep_result)[0]["tool_calls"][0]["function"]["arguments"], Json::object());

  struct Case {
    const char* messages;
    const char* param;
  };
  for (const Case& c : {
           Case{R"([{"role": "assistant", "tool_calls": {}}])", "messages[0].tool_calls"},
           Case{R"([{"role": "assistant", "tool_calls": [1]}])", "messages[0].tool_calls[0]"},
           Case{R"([{"role": "assistant", "tool_calls": [{"type": "custom", "function": {}}]}])",
                "messages[0].tool_calls[0].type"},
           Case{R"([{"role": "assistant", "tool_calls": [{"function": "f"}]}])",
                "messages[0].tool_calls[0].function"},
       }) {
    auto r = normalize_openai_messages(parse(c.messages));
    ASSERT_FALSE(r.ok()) << c.messages;
    EXPECT_EQ(r.error().param, c.param) << r.error().message;
  }
}

TEST(ServerChat, MistakesAreNamed) {
  const ModelContext model = test_model();
  struct Case {
    const char* body;
    int status;
    const char* param;
  };
  const Case cases[] = {
      {R"({"messages": [{"role": "user", "content": "x"}]})", 400, "model"},
      {R"({"model": "tiny"})", 400, "messages"},
      {R"({"model": "tiny", "messages": {}})", 400, "messages"},
      {R"({"model": "other", "messages": []})", 404, "model"},
      {R"({"model": "tiny", "messages": []})", 400, "messages"},
      {R"({"model": "tiny", "messages": [{"content": "x"}]})", 400, "messages[0].role"},
      {R"({"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]})", 400,
       "messages[0].role"},
      {R"({"model": "tiny", "messages": [{"role": "user"}]})", 400, "messages[0].content"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": 5}]})", 400,
       "messages[0].content"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       400, "messages[0].content[0]"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stream_options": {}})",
       400, "stream_options"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
       400, "top_logprobs"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 21, "logprobs": true})",
       400, "top_logprobs"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})",
       400, "tool_choice"},
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "stream": "yes"})", 400,
       "stream"},
  };
  for (const Case& c : cases) {
    auto r = parse_chat_completion_request(parse(c.body), model);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().status, c.status) << c.body;
    EXPECT_EQ(r.error().param, c.param) << c.body << ": " << r.error().message;
  }
  auto missing =
      parse_chat_completion_request(parse(R"({"model": "other", "messages": []})"), model);
  EXPECT_EQ(missing.error().code, "model_not_found");
}

TEST(ServerCompletions, PromptsInEveryForm) {
  const ModelContext model = test_model();
  auto one = parse_completion_request(parse(R"({"model": "tiny", "prompt": "ab"})"), model);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->generations.size(), 1u);
  EXPECT_EQ(one->generations[0].prompt, (std::vector<int32_t>{'a', 'b'}));
  EXPECT_EQ(one->generations[0].sampling.max_tokens, kCompletionsDefaultMaxTokens);
  auto many = parse_completion_request(
      parse(R"({"model": "tiny", "prompt": ["a", [1, 2], "c"], "n": 2, "logprobs": 3})"), model);
  ASSERT_TRUE(many.ok()) << many.error().message;
  ASSERT_EQ(many->generations.size(), 3u);
  EXPECT_EQ(many->generations[1].prompt, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(many->generations[2].sampling.n, 2);
  EXPECT_EQ(many->generations[2].sampling.logprobs, 3);
  auto ids = parse_completion_request(parse(R"({"model": "tiny", "prompt": [5, 6, 7]})"), model);
  EXPECT_EQ(ids->generations.size(), 1u);

  for (const char* bad :
       {R"({"model": "tiny", "prompt": []})", R"({"model": "tiny", "prompt": 5})",
        R"({"model": "tiny", "prompt": [["a"]]})",
        R"({"model": "tiny", "prompt": "a", "echo": true})",
        R"({"model": "tiny", "prompt": "a", "suffix": "b"})",
        R"({"model": "tiny", "prompt": "a", "logprobs": 21})", R"({"model": "tiny"})"}) {
    auto r = parse_completion_request(parse(bad), model);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().status, 400) << bad;
  }
}

TEST(ServerMessages, SystemMessagesAndPrefill) {
  auto r = parse_messages_request(parse(R"({"model": "tiny", "max_tokens": 5, "system": "S",
    "stop_sequences": ["X"], "temperature": 0.5, "top_k": 3,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                 {"role": "assistant", "content": "Hel"}]})"),
                                  test_model(), false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(byte_tokenizer().decode(r->generation.prompt),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>"
            "assistant\nHel");
  EXPECT_EQ(r->generation.sampling.max_tokens, 5);
  EXPECT_EQ(r->generation.sampling.top_k, 3);
  EXPECT_EQ(r->generation.sampling.stop, std::vector<std::string>{"X"});
  EXPECT_FALSE(r->generation.sampling.include_stop_str_in_output);  // Anthropic shows no stop sequence

  auto count = parse_messages_request(
      parse(R"({"model": "tiny", "messages": [{"role": "user", "content": "Hi"}]})"), test_model(),
      true);
  ASSERT_TRUE(count.ok());
  for (
      const char* bad :
      {R"({"model": "tiny", "messages": [{"role": "user", "content": "Hi"}]})",
       R"({"model": "tiny", "max_tokens": 1, "messages": [{"role": "system", "content": "Hi"}]})",
       R"({"model": "tiny", "max_tokens": 1, "temperature": 2, "messages": [{"role": "user", "content": "Hi"}]})",
       R"({"model": "tiny", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image"}]}]})",
       R"({"model": "tiny", "max_tokens": 1, "tools": [{}], "messages": [{"role": "user", "content": "Hi"}]})"}) {
    auto e = parse_messages_request(parse(bad), test_model(), false);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().status, 400) << bad;
  }
}

// Anthropic tool use. A model with an engine (fake weights, the byte tokenizer) so that
// grammars compile; the Qwen2.5 template so that tools and tool calls show in the prompt.
class ServerMessagesTools : public ::testing::Test {
 protected:
  ServerMessagesTools()
      : backend_(64, 16, byte_tokenizer().vocab_size(), 256),
        engine_(backend_, &byte_tokenizer(), EngineConfig{}) {
    model_.engine = &engine_;
    model_.chat_template = chat::ChatTemplate::parse(kQwen25Template).value();
  }

  ApiResult<MessagesRequest> parse_with(const std::string& extra, bool count_tokens = false) {
    return parse_messages_request(parse(R"({"model": "tiny", "max_tokens": 8,
                  "messages": [{"role": "user", "content": "Weather in Paris?"}])" +
                                        extra + "}"),
                                  model_, count_tokens);
  }

  static constexpr const char* kTools = R"(, "tools": [{"name": "get_weather",
      "description": "Current weather", "input_schema": {"type": "object",
      "properties": {"city": {"type": "string"}}, "required": ["city"]}}])";

  kiln::testing::FakeBackend backend_;
  Engine engine_;
  ModelContext model_ = test_model();
};

TEST_F(ServerMessagesTools, ToolsAreShownInOpenAIShapeAndConstrainTheOutput) {
  auto r = parse_with(kTools);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tool_format, tool_calls::ToolCallFormat::kHermes);
  EXPECT_NE(r->generation.grammar, nullptr);  // auto: text, or calls
  const std::string prompt = byte_tokenizer().decode(r->generation.prompt);
  EXPECT_NE(prompt.find("<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
                        "\"get_weather\", \"description\": \"Current weather\", "
                        "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": "
                        "{\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>"),
            std::string::npos)
      << prompt;

  // Each choice is its own grammar ("any" without parallel calls, with this one tool, is
  // the named choice's grammar); "none" shows the tools but neither constrains nor parses.
  std::vector<std::shared_ptr<const structured::CompiledGrammar>> grammars;
  for (const char* choice : {R"({"type": "auto"})", R"({"type": "any"})",
                             R"({"type": "tool", "name": "get_weather"})"}) {
    auto c = parse_with(std::string(kTools) + R"(, "tool_choice": )" + choice);
    ASSERT_TRUE(c.ok()) << choice << ": " << c.error().message;
    ASSERT_NE(c->generation.grammar, nullptr) << choice;
    for (const auto& g : grammars) EXPECT_NE(g, c->generation.grammar) << choice;
    grammars.push_back(c->generation.grammar);
  }
  auto single =
      parse_with(std::string(kTools) +
                 R"(, "tool_choice": {"type": "any", "disable_parallel_tool_use": true})");
  ASSERT_TRUE(single.ok()) << single.error().message;
  EXPECT_EQ(single->generation.grammar, grammars[2]);
  auto none = parse_with(std::string(kTools) + R"(, "tool_choice": {"type": "none"})");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->generation.grammar, nullptr);
  EXPECT_FALSE(none->tool_format);
  EXPECT_EQ(none->generation.prompt, r->generation.prompt);

  // count_tokens counts the tools' text without compiling anything.
  auto count = parse_with(kTools, /*count_tokens=*/true);
  ASSERT_TRUE(count.ok()) << count.error().message;
  EXPECT_EQ(count->generation.prompt, r->generation.prompt);
  EXPECT_EQ(count->generation.grammar, nullptr);
}

TEST_F(ServerMessagesTools, OutputConfigFormatIsAJsonSchemaConstraint) {
  const char* schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}})";
  auto r = parse_with(std::string(R"(, "output_config": {"format": {"type": "json_schema",
                                      "schema": )") +
                      schema + "}}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_NE(r->generation.grammar, nullptr);
  EXPECT_FALSE(r->tool_format);
  // output_format, the beta name, is the same constraint (the compiler's cache hands back
  // the same grammar).
  auto legacy = parse_with(std::string(R"(, "output_format": {"type": "json_schema", "schema": )") +
                           schema + "}");
  ASSERT_TRUE(legacy.ok()) << legacy.error().message;
  EXPECT_EQ(legacy->generation.grammar, r->generation.grammar);
  // With tool_choice "none" the tools do not constrain, so the two may be combined.
  auto with_none = parse_with(std::string(kTools) + R"(, "tool_choice": {"type": "none"},
      "output_config": {"format": {"type": "json_schema", "schema": )" +
                              schema + "}}");
  ASSERT_TRUE(with_none.ok()) << with_none.error().message;
  auto with_tools = parse_with(std::string(kTools) + R"(, "output_config": {"format":
      {"type": "json_schema", "schema": )" +
                               schema + "}}");
  ASSERT_FALSE(with_tools.ok());
  EXPECT_EQ(with_tools.error().param, "tools");
  EXPECT_NE(with_tools.error().message.find("output_config.format"), std::string::npos);
}

TEST_F(ServerMessagesTools, MistakesAreNamed) {
  struct Case {
    std::string extra;
    const char* param;
  };
  const std::string tools = kTools;
  for (const Case& c : std::vector<Case>{
           {R"(, "tools": [1])", "tools[0]"},
           {R"(, "tools": [{"type": "web_search_20250305", "name": "web_search"}])",
            "tools[0].type"},
           {R"(, "tools": [{"input_schema": {"type": "object"}}])", "tools[0].name"},
           {R"(, "tools": [{"name": "f"}])", "tools[0].input_schema"},
           {R"(, "tools": [{"name": "f", "input_schema": {"type": "string"}}])",
            "tools[0].input_schema"},
           {R"(, "tools": [{"name": "f", "input_schema": {}}, {"name": "f", "input_schema": {}}])",
            "tools"},
           {R"(, "tool_choice": {"type": "any"})", "tool_choice"},
           {tools + R"(, "tool_choice": "auto")", "tool_choice"},
           {tools + R"(, "tool_choice": {})", "tool_choice.type"},
           {tools + R"(, "tool_choice": {"type": "function"})", "tool_choice.type"},
           {tools + R"(, "tool_choice": {"type": "tool"})", "tool_choice.name"},
           {tools + R"(, "tool_choice": {"type": "tool", "name": "nope"})", "tool_choice"},
           {tools + R"(, "tool_choice": {"type": "any", "disable_parallel_tool_use": 1})",
            "tool_choice.disable_parallel_tool_use"},
           {R"(, "output_config": {"format": {"type": "text"}})", "output_config.format.type"},
           {R"(, "output_config": {"format": {"type": "json_schema"}})",
            "output_config.format.schema"},
           {R"(, "output_config": {"format": {"type": "json_schema", "schema": {"type": "nope"}}})",
            "output_config.format.schema"},
           {R"(, "output_config": {"format": "json"})", "output_config.format"},
           {R"(, "output_format": {"type": "json_schema", "schema": {}},
                 "output_config": {"format": {"type": "json_schema", "schema": {}}})",
            "output_format"},
       }) {
    auto r = parse_with(c.extra);
    ASSERT_FALSE(r.ok()) << c.extra;
    EXPECT_EQ(r.error().status, 400) << c.extra;
    EXPECT_EQ(r.error().param, c.param) << c.extra << ": " << r.error().message;
  }
  auto server_tool = parse_with(R"(, "tools": [{"type": "web_search_20250305", "name": "w"}])");
  EXPECT_NE(server_tool.error().message.find("web_search_20250305"), std::string::npos);
}

// tool_use and tool_result blocks become what an OpenAI client would have sent: the same
// conversation in both APIs renders to the same prompt.
TEST_F(ServerMessagesTools, ToolHistoryRendersAsOpenAIWould) {
  auto anthropic = parse_messages_request(parse(R"({"model": "tiny", "max_tokens": 8,
    "tool_choice": {"type": "none"},
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "22C"}]}]})"),
                                          model_, false);
  ASSERT_TRUE(anthropic.ok()) << anthropic.error().message;
  auto openai = parse_chat_completion_request(parse(R"({"model": "tiny", "tool_choice": "none",
    "tools": [{"type": "function", "function": {"name": "get_weather",
                                                "parameters": {"type": "object"}}}],
    "messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "toolu_1", "content": "22C"}]})"),
                                              model_);
  ASSERT_TRUE(openai.ok()) << openai.error().message;
  EXPECT_EQ(byte_tokenizer().decode(anthropic->generation.prompt),
            byte_tokenizer().decode(openai->generation.prompt));
}

TEST(ServerMessages, ToolBlocksBecomeToolCallsAndToolMessagesInOrder) {
  const Json system = "S";
  auto m = anthropic_template_messages(&system, parse(R"([
    {"role": "user", "content": "Go"},
    {"role": "assistant", "content": [
      {"type": "text", "text": "Checking."},
      {"type": "tool_use", "id": "t1", "name": "a", "input": {"x": [1, 2], "b": 1}},
      {"type": "tool_use", "id": "t2", "name": "b", "input": {}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "one"},
                                                               {"type": "text", "text": "two"}]},
      {"type": "tool_result", "tool_use_id": "t2", "is_error": true, "content": "boom"},
      {"type": "text", "text": "And"}, {"type": "text", "text": "then?"}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t3"}]},
    {"role": "user", "content": []}])"));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(*m, parse(R"([
    {"role": "system", "content": "S"},
    {"role": "user", "content": "Go"},
    {"role": "assistant", "content": "Checking.", "tool_calls": [
      {"id": "t1", "type": "function", "function": {"name": "a", "arguments": {"x": [1, 2], "b": 1}}},
      {"id": "t2", "type": "function", "function": {"name": "b", "arguments": {}}}]},
    {"role": "tool", "tool_call_id": "t1", "content": "one\ntwo"},
    {"role": "tool", "tool_call_id": "t2", "content": "boom"},
    {"role": "user", "content": "And\nthen?"},
    {"role": "tool", "tool_call_id": "t3", "content": ""},
    {"role": "user", "content": ""}])"));

  struct Case {
    const char* messages;
    const char* param;
  };
  for (const Case& c : {
           Case{R"([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "a",
                                                  "input": {}}]}])",
                "messages[0].content[0]"},
           Case{R"([{"role": "assistant", "content": [{"type": "tool_result",
                                                       "tool_use_id": "t"}]}])",
                "messages[0].content[0]"},
           Case{R"([{"role": "user", "content": [{"type": "tool_result"}]}])",
                "messages[0].content[0].tool_use_id"},
           Case{R"([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                     "content": [{"type": "image"}]}]}])",
                "messages[0].content[0].content[0]"},
           Case{R"([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                     "is_error": "yes"}]}])",
                "messages[0].content[0].is_error"},
           Case{R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": [
                     {"type": "tool_use", "id": "t", "name": "a"}]}, {"role": "user", "content": "y"}])",
                "messages[1].content[0].input"},
           Case{R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": [
                     {"type": "tool_use", "id": "t", "name": "a", "input": "{}"}]}])",
                "messages[1].content[0].input"},
           // A final assistant message is continued (prefill): text only.
           Case{R"([{"role": "user", "content": "x"}, {"role": "assistant", "content": [
                     {"type": "tool_use", "id": "t", "name": "a", "input": {}}]}])",
                "messages[1].content"},
           Case{R"([{"role": "assistant", "content": [{"type": "thinking"}]}])",
                "messages[0].content[0]"},
       }) {
    auto r = anthropic_template_messages(nullptr, parse(c.messages));
    ASSERT_FALSE(r.ok()) << c.messages;
    EXPECT_EQ(r.error().param, c.param) << c.messages << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace kiln::server
