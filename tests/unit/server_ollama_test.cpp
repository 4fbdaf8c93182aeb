// Ollama's /api/chat and /api/generate: the body read into a GenerationRequest (defaults,
// the Modelfile's PARAMETERs, options, what kiln refuses) and engine outputs into Ollama's
// NDJSON lines, tool calls included.
#include <gtest/gtest.h>

#include "server/ollama/formatter.h"
#include "server/ollama/request.h"
#include "server_test_util.h"

namespace kiln::server::ollama {
namespace {

using server::testing::output;
using server::testing::test_model;

ApiResult<OllamaRequest> parse(const Json& body, bool chat = false,
                               const Json& defaults = Json::object()) {
  static const ModelContext model = test_model();
  return parse_ollama_request(body, chat, model, defaults);
}

std::vector<Json> lines(const std::string& body) {
  std::vector<Json> out;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find('\n', at);
    EXPECT_NE(end, std::string::npos) << "every object ends its line";
    if (end == std::string::npos) break;
    out.push_back(Json::parse(body.substr(at, end - at)));
    at = end + 1;
  }
  return out;
}

TEST(OllamaRequest, SamplingStartsFromOllamasDefaultsThenTheModelfileThenOptions) {
  auto r = parse({{"model", "tiny"}, {"prompt", "hi"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const SamplingParams& p = r->generation.sampling;
  EXPECT_FLOAT_EQ(p.temperature, 0.8f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.max_tokens, -1);
  EXPECT_TRUE(r->stream);  // Ollama streams unless told not to

  const Json modelfile = {{"options", {{"temperature", 0.2}, {"stop", {"END"}}}}};
  r = parse({{"model", "tiny"}, {"prompt", "hi"}, {"stream", false},
             {"options", {{"top_k", 5}, {"num_predict", 7}, {"seed", 3}, {"num_thread", 8}}}},
            false, modelfile);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FLOAT_EQ(r->generation.sampling.temperature, 0.2f);
  EXPECT_EQ(r->generation.sampling.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r->generation.sampling.top_k, 5);
  EXPECT_EQ(r->generation.sampling.max_tokens, 7);
  EXPECT_EQ(r->generation.sampling.seed, 3u);
  EXPECT_FALSE(r->stream);

  r = parse({{"model", "tiny"}, {"prompt", "hi"}, {"options", {{"stop", {"x", "y"}}}}}, false,
            modelfile);
  EXPECT_EQ(r->generation.sampling.stop, (std::vector<std::string>{"x", "y"}));
}

TEST(OllamaRequest, NumCtxLeavesRoomForThePrompt) {
  auto r = parse({{"model", "tiny"}, {"prompt", "hi"}, {"raw", true}, {"options", {{"num_ctx", 10}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->generation.sampling.max_tokens, 10 - (int)r->generation.prompt.size());
  r = parse({{"model", "tiny"}, {"prompt", "a long prompt"}, {"raw", true},
             {"options", {{"num_ctx", 3}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().param, "options.num_ctx");
}

TEST(OllamaRequest, WhatKilnCannotDoIsA400NamingTheField) {
  const std::vector<std::pair<Json, std::string>> cases = {
      {{{"model", "tiny"}, {"prompt", "hi"}, {"images", {"aGk="}}}, "images"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"template", "{{ .Prompt }}"}}, "template"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"suffix", "end"}}, "suffix"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"think", true}}, "think"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"options", {{"temperature", "hot"}}}},
       "options.temperature"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"options", {{"warp_speed", 9}}}}, "options.warp_speed"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"keep_alive", "soon"}}, "keep_alive"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"format", "yaml"}}, "format"},
      {{{"model", "tiny"}, {"prompt", "hi"}, {"context", {1, -2}}}, "context"},
  };
  for (const auto& [body, param] : cases) {
    auto r = parse(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().status, 400) << body.dump();
    EXPECT_EQ(r.error().param, param) << body.dump() << ": " << r.error().message;
  }
  auto r = parse({{"model", "other"}, {"prompt", "hi"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status, 404);
  r = parse({{"model", "tiny"},
             {"messages", {{{"role", "user"}, {"content", "hi"}, {"images", {"aGk="}}}}}},
            true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().param, "messages[0].images");
}

TEST(OllamaRequest, NoPromptOnlyLoadsAndKeepAliveIsRead) {
  auto r = parse({{"model", "tiny:latest"}, {"keep_alive", 0}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->load_only);
  EXPECT_EQ(r->keep_alive, 0.0);
  r = parse({{"model", "tiny"}, {"messages", Json::array()}, {"keep_alive", "5m"}}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->load_only);
  EXPECT_EQ(r->keep_alive, 300.0);
}

TEST(OllamaRequest, PromptsRawTemplatedAndContinued) {
  const ModelContext model = test_model();
  auto raw = parse({{"model", "tiny"}, {"prompt", "abc"}, {"raw", true}});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->generation.prompt, model.tokenizer->encode("abc", true, true));
  EXPECT_FALSE(raw->return_context);

  auto templated = parse({{"model", "tiny"}, {"prompt", "abc"}, {"system", "be brief"}});
  ASSERT_TRUE(templated.ok());
  const std::string expected =
      "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nabc<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(model.tokenizer->decode(templated->generation.prompt), expected);
  EXPECT_TRUE(templated->return_context);

  auto continued = parse({{"model", "tiny"}, {"prompt", "abc"}, {"context", {7, 8, 9}}});
  ASSERT_TRUE(continued.ok());
  ASSERT_GT(continued->generation.prompt.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(continued->generation.prompt.begin(),
                                 continued->generation.prompt.begin() + 3),
            (std::vector<int32_t>{7, 8, 9}));
}

TEST(OllamaRequest, ChatTakesOllamasToolHistoryAndTheModelfilesSystem) {
  const ModelContext model = test_model();
  const Json messages = {
      {{"role", "user"}, {"content", "weather?"}},
      {{"role", "assistant"},
       {"content", ""},
       {"tool_calls", {{{"function", {{"name", "get"}, {"arguments", {{"city", "Paris"}}}}}}}}},
      {{"role", "tool"}, {"content", "sunny"}, {"tool_name", "get"}},
  };
  auto r = parse({{"model", "tiny"}, {"messages", messages}}, true,
                 {{"system", "You answer in French."}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const std::string prompt = model.tokenizer->decode(r->generation.prompt);
  EXPECT_TRUE(prompt.starts_with("<|im_start|>system\nYou answer in French.<|im_end|>")) << prompt;
  EXPECT_NE(prompt.find("sunny"), std::string::npos);
}

TEST(OllamaFormatter, StreamsNdjsonLinesThenTheFinalCounts) {
  OllamaRequest r;
  r.model = "tiny";
  r.stream = true;
  r.return_context = true;
  r.generation.prompt = {1, 2};
  const auto t0 = Clock::now();
  auto f = make_ollama_formatter(r, {t0, t0});
  std::string body;
  f->on_output(0, output({"Hel"}), body);
  f->on_output(0, output({"lo"}, {FinishReason::kStop}), body);
  f->on_finished(body);
  auto got = lines(body);
  ASSERT_EQ(got.size(), 3u) << body;
  EXPECT_EQ(got[0]["response"], "Hel");
  EXPECT_EQ(got[0]["done"], false);
  EXPECT_EQ(got[0]["model"], "tiny");
  EXPECT_TRUE(got[0]["created_at"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(got[1]["response"], "lo");
  EXPECT_EQ(got[2]["response"], "");
  EXPECT_EQ(got[2]["done"], true);
  EXPECT_EQ(got[2]["done_reason"], "stop");
  EXPECT_EQ(got[2]["prompt_eval_count"], 10);
  EXPECT_EQ(got[2]["context"], Json({1, 2, 'H', 'e', 'l', 'l', 'o'}));
  EXPECT_GE(got[2]["total_duration"].get<int64_t>(), 0);
}

TEST(OllamaFormatter, ToolCallsBecomeMessageToolCallsWithObjectArguments) {
  OllamaRequest r;
  r.model = "tiny";
  r.chat = true;
  r.tools.parse_format = tool_calls::ToolCallFormat::kHermes;
  const std::string text =
      "Let me check.<tool_call>\n{\"name\": \"get\", \"arguments\": {\"city\": \"Paris\"}}\n"
      "</tool_call>";
  for (bool stream : {true, false}) {
    r.stream = stream;
    auto f = make_ollama_formatter(r, {Clock::now(), Clock::now()});
    std::string body;
    // Split mid-marker: the parser holds partial markers back.
    f->on_output(0, output({text.substr(0, 20)}), body);
    f->on_output(0, output({text.substr(20)}, {FinishReason::kStop}), body);
    f->on_finished(body);
    auto got = lines(body);
    std::string content;
    Json calls = Json::array();
    for (const Json& line : got) {
      content += line["message"]["content"].get<std::string>();
      if (line["message"].contains("tool_calls"))
        for (const Json& c : line["message"]["tool_calls"]) calls.push_back(c);
    }
    EXPECT_EQ(content, "Let me check.") << body;
    ASSERT_EQ(calls.size(), 1u) << body;
    EXPECT_EQ(calls[0]["function"]["name"], "get");
    EXPECT_EQ(calls[0]["function"]["arguments"], Json({{"city", "Paris"}}));
    EXPECT_EQ(got.back()["done"], true);
    if (!stream) {
      EXPECT_EQ(got.size(), 1u) << "a buffered answer is one object";
    }
  }
}

TEST(OllamaFormatter, AStreamThatFailsEndsWithAnErrorLine) {
  OllamaRequest r;
  r.model = "tiny";
  auto f = make_ollama_formatter(r, {Clock::now(), Clock::now()});
  std::string body;
  f->on_stream_error(ApiError::unavailable("the server is shutting down"), body);
  EXPECT_EQ(lines(body), std::vector<Json>{Json({{"error", "the server is shutting down"}})});
}

}  // namespace
}  // namespace kiln::server::ollama
