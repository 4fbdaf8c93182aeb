// Engine outputs into the APIs' response shapes: OpenAI chat and completion objects and
// their SSE chunks, Anthropic's message and event sequence, error bodies, SSE framing.
#include <gtest/gtest.h>

#include "server/anthropic/messages.h"
#include "server/errors.h"
#include "server/openai/chat.h"
#include "server/openai/completions.h"
#include "server/http/sse.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

using testing::byte_tokenizer;
using testing::output;

// The JSON payloads of "data: ..." lines (and "[DONE]" as a string).
std::vector<Json> sse_payloads(const std::string& body,
                               std::vector<std::string>* events = nullptr) {
  std::vector<Json> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << "every event ends with a blank line";
    if (end == std::string::npos) break;
    std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    if (event.starts_with("event: ")) {
      const size_t nl = event.find('\n');
      if (events) events->push_back(event.substr(7, nl - 7));
      event = event.substr(nl + 1);
    }
    EXPECT_TRUE(event.starts_with("data: ")) << event;
    const std::string data = event.substr(6);
    out.push_back(data == "[DONE]" ? Json("[DONE]") : Json::parse(data));
  }
  return out;
}

ChatCompletionRequest chat_request(bool stream, int n = 1, bool include_usage = false,
                                   bool logprobs = false) {
  ChatCompletionRequest r;
  r.model = "tiny";
  r.stream = stream;
  r.include_usage = include_usage;
  r.logprobs = logprobs;
  r.generation.sampling.n = n;
  return r;
}

const ResponseMeta kMeta{"id-1", 123, "tiny"};

TEST(ServerSse, Framing) {
  std::string out;
  append_sse_data(out, Json{{"a", "line\nbreak"}});
  append_sse_event(out, "ping", Json{{"type", "ping"}});
  EXPECT_EQ(out, "data: {\"a\":\"line\\nbreak\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
}

TEST(ServerChatFormat, StreamChunksInOpenAIShape) {
  auto f = make_chat_formatter(chat_request(true, 2, true), byte_tokenizer(), kMeta);
  std::string body;
  f->on_output(0, output({"He", ""}, {}, 10, 4), body);
  f->on_output(0, output({"llo", "Yo"}, {FinishReason::kStop, FinishReason::kLength}, 10, 4), body);
  f->on_finished(body);
  const auto chunks = sse_payloads(body);
  ASSERT_EQ(chunks.size(), 7u);  // 2 role chunks, 3 content chunks, usage, [DONE]
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(chunks[i]["object"], "chat.completion.chunk");
    EXPECT_EQ(chunks[i]["id"], "id-1");
    EXPECT_EQ(chunks[i]["choices"][0]["index"], i);
    EXPECT_EQ(chunks[i]["choices"][0]["delta"], (Json{{"role", "assistant"}, {"content", ""}}));
    EXPECT_TRUE(chunks[i]["usage"].is_null());
  }
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["content"], "He");
  EXPECT_TRUE(chunks[2]["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(chunks[3]["choices"][0]["delta"]["content"], "llo");
  EXPECT_EQ(chunks[3]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[4]["choices"][0]["index"], 1);
  EXPECT_EQ(chunks[4]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(chunks[5]["choices"], Json::array());
  EXPECT_EQ(chunks[5]["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(chunks[5]["usage"]["completion_tokens"], 7);
  EXPECT_EQ(chunks[5]["usage"]["total_tokens"], 17);
  EXPECT_EQ(chunks[5]["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
  EXPECT_EQ(chunks[6], "[DONE]");
}

TEST(ServerChatFormat, StreamWithoutUsageHasNoUsageKeyAndErrorsEndTheStream) {
  auto f = make_chat_formatter(chat_request(true), byte_tokenizer(), kMeta);
  std::string body;
  f->on_output(0, output({"a"}), body);
  f->on_stream_error(ApiError::unavailable("shutting down"), body);
  const auto chunks = sse_payloads(body);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_FALSE(chunks[1].contains("usage"));
  EXPECT_EQ(chunks[2]["error"]["message"], "shutting down");
  EXPECT_EQ(chunks[3], "[DONE]");
}

TEST(ServerChatFormat, BufferedCompletionWithLogprobs) {
  auto f = make_chat_formatter(chat_request(false, 1, false, true), byte_tokenizer(), kMeta);
  std::string body;
  f->on_output(0, output({"h"}), body);
  f->on_output(0, output({"i"}, {FinishReason::kLength}, 3, 0), body);
  EXPECT_TRUE(body.empty());
  f->on_finished(body);
  const Json j = Json::parse(body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  const Json& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 2u);
  EXPECT_EQ(content[0]["token"], "h");
  EXPECT_EQ(content[0]["bytes"], Json::array({'h'}));
  EXPECT_FLOAT_EQ(content[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(content[0]["top_logprobs"][1]["token"], "z");
  EXPECT_EQ(j["usage"], (Json{{"prompt_tokens", 3},
                              {"completion_tokens", 2},
                              {"total_tokens", 5},
                              {"prompt_tokens_details", {{"cached_tokens", 0}}}}));
}

TEST(ServerCompletionFormat, ChoicesAreNumberedPromptMajor) {
  CompletionRequest r;
  r.model = "tiny";
  r.generations.resize(2);
  for (auto& g : r.generations) g.sampling.n = 2;
  r.logprobs = 1;
  auto f = make_completion_formatter(r, byte_tokenizer(), kMeta);
  std::string body;
  f->on_output(1, output({"c", "d"}, {FinishReason::kStop, FinishReason::kStop}, 2), body);
  f->on_output(0, output({"ab", "e"}, {FinishReason::kLength, FinishReason::kStop}, 3), body);
  f->on_finished(body);
  const Json j = Json::parse(body);
  EXPECT_EQ(j["object"], "text_completion");
  ASSERT_EQ(j["choices"].size(), 4u);
  EXPECT_EQ(j["choices"][0]["text"], "ab");
  EXPECT_EQ(j["choices"][2]["index"], 2);
  EXPECT_EQ(j["choices"][2]["text"], "c");
  const Json& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"], Json::array({"a", "b"}));
  EXPECT_EQ(lp["text_offset"], Json::array({0, 1}));
  EXPECT_EQ(lp["top_logprobs"][0].size(), 2u);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
}

TEST(ServerCompletionFormat, StreamOffsetsContinueAcrossChunks) {
  CompletionRequest r;
  r.model = "tiny";
  r.stream = true;
  r.generations.resize(1);
  r.logprobs = 0;
  auto f = make_completion_formatter(r, byte_tokenizer(), kMeta);
  std::string body;
  f->on_output(0, output({"ab"}), body);
  f->on_output(0, output({"c"}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const auto chunks = sse_payloads(body);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[1]["choices"][0]["logprobs"]["text_offset"], Json::array({2}));
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chunks[2], "[DONE]");
}

// vLLM's stop_reason beside finish_reason: the stop string or stop token id, else null.
TEST(ServerChatFormat, StopReasonNamesTheStopStringOrToken) {
  RequestOutput by_string = output({"ok"}, {FinishReason::kStop});
  by_string.samples[0].stop_cause.string = "END";
  RequestOutput by_token = output({"ok"}, {FinishReason::kStop});
  by_token.samples[0].stop_cause.token = 7;

  auto buffered = make_chat_formatter(chat_request(false), byte_tokenizer(), kMeta);
  std::string body;
  buffered->on_output(0, by_string, body);
  buffered->on_finished(body);
  EXPECT_EQ(Json::parse(body)["choices"][0]["stop_reason"], "END");

  auto stream = make_chat_formatter(chat_request(true), byte_tokenizer(), kMeta);
  body.clear();
  stream->on_output(0, output({"o"}), body);
  stream->on_output(0, by_token, body);
  stream->on_finished(body);
  const auto chunks = sse_payloads(body);
  ASSERT_EQ(chunks.size(), 4u);  // role, "o", "ok" + finish, [DONE]
  EXPECT_TRUE(chunks[1]["choices"][0]["stop_reason"].is_null());
  EXPECT_EQ(chunks[2]["choices"][0]["stop_reason"], 7);

  CompletionRequest r;
  r.model = "tiny";
  r.generations.resize(1);
  auto completion = make_completion_formatter(r, byte_tokenizer(), kMeta);
  body.clear();
  completion->on_output(0, output({"ok"}, {FinishReason::kStop}), body);  // an EOS token
  completion->on_finished(body);
  const Json j = Json::parse(body);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(j["choices"][0]["stop_reason"].is_null());
}

TEST(ServerMessagesFormat, StreamEventSequence) {
  MessagesRequest r;
  r.model = "tiny";
  r.stream = true;
  r.stop_sequences = {"!"};
  auto f = make_messages_formatter(r, {"msg_1", 0, "tiny"});
  std::string body;
  f->on_output(0, output({"Hi"}, {}, 12, 8), body);
  RequestOutput last = output({" there"}, {FinishReason::kStop}, 12, 8);
  last.samples[0].stop_cause.string = "!";  // the engine took the stop string off the text
  f->on_output(0, last, body);
  f->on_finished(body);
  std::vector<std::string> events;
  const auto payloads = sse_payloads(body, &events);
  EXPECT_EQ(events,
            (std::vector<std::string>{"message_start", "content_block_start", "ping",
                                      "content_block_delta", "content_block_delta",
                                      "content_block_stop", "message_delta", "message_stop"}));
  for (size_t i = 0; i < events.size(); ++i) EXPECT_EQ(payloads[i]["type"], events[i]);
  EXPECT_EQ(payloads[0]["message"]["usage"]["input_tokens"], 4);
  EXPECT_EQ(payloads[0]["message"]["usage"]["cache_read_input_tokens"], 8);
  EXPECT_EQ(payloads[3]["delta"], (Json{{"type", "text_delta"}, {"text", "Hi"}}));
  EXPECT_EQ(payloads[4]["delta"]["text"], " there");
  EXPECT_EQ(payloads[6]["delta"]["stop_reason"], "stop_sequence");
  EXPECT_EQ(payloads[6]["delta"]["stop_sequence"], "!");
  EXPECT_EQ(payloads[6]["usage"]["output_tokens"], 8);
}

TEST(ServerMessagesFormat, BufferedMessage) {
  MessagesRequest r;
  r.model = "tiny";
  auto f = make_messages_formatter(r, {"msg_1", 0, "tiny"});
  std::string body;
  f->on_output(0, output({"Hello"}, {FinishReason::kLength}, 5, 0), body);
  f->on_finished(body);
  const Json j = Json::parse(body);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["role"], "assistant");
  EXPECT_EQ(j["content"], Json::array({{{"type", "text"}, {"text", "Hello"}}}));
  EXPECT_EQ(j["stop_reason"], "max_tokens");
  EXPECT_TRUE(j["stop_sequence"].is_null());
  EXPECT_EQ(j["usage"]["output_tokens"], 5);
}

MessagesRequest tool_request(bool stream) {
  MessagesRequest r;
  r.model = "tiny";
  r.stream = stream;
  r.tool_format = tool_calls::ToolCallFormat::kHermes;
  return r;
}

const char* kCall =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";

TEST(ServerMessagesFormat, BufferedToolUseBlocksFollowTheText) {
  auto f = make_messages_formatter(tool_request(false), {"msg_1", 0, "tiny"});
  std::string body;
  f->on_output(
      0, output({std::string("Let me check.\n") + kCall + "\n" + kCall}, {FinishReason::kStop}),
      body);
  f->on_finished(body);
  const Json j = Json::parse(body);
  ASSERT_EQ(j["content"].size(), 3u) << body;
  EXPECT_EQ(j["content"][0], (Json{{"type", "text"}, {"text", "Let me check."}}));
  for (int i = 1; i < 3; ++i) {
    const Json& use = j["content"][i];
    EXPECT_EQ(use["type"], "tool_use");
    EXPECT_TRUE(use["id"].get<std::string>().starts_with("toolu_")) << use;
    EXPECT_EQ(use["name"], "get_weather");
    EXPECT_EQ(use["input"], (Json{{"city", "Paris"}}));
  }
  EXPECT_NE(j["content"][1]["id"], j["content"][2]["id"]);
  EXPECT_EQ(j["stop_reason"], "tool_use");

  // Calls only: no empty text block. Cut off by max_tokens: that is the stop reason.
  auto only = make_messages_formatter(tool_request(false), {"msg_2", 0, "tiny"});
  body.clear();
  only->on_output(0, output({kCall}, {FinishReason::kLength}), body);
  only->on_finished(body);
  const Json k = Json::parse(body);
  ASSERT_EQ(k["content"].size(), 1u);
  EXPECT_EQ(k["content"][0]["type"], "tool_use");
  EXPECT_EQ(k["stop_reason"], "max_tokens");

  // Text without calls (or with a broken one) is one text block and an ordinary end.
  auto text = make_messages_formatter(tool_request(false), {"msg_3", 0, "tiny"});
  body.clear();
  text->on_output(
      0, output({"<tool_call>\n{\"name\": \"f\", \"arguments\": {"}, {FinishReason::kStop}), body);
  text->on_finished(body);
  const Json t = Json::parse(body);
  EXPECT_EQ(t["content"],
            Json::array(
                {{{"type", "text"}, {"text", "<tool_call>\n{\"name\": \"f\", \"arguments\": {"}}}));
  EXPECT_EQ(t["stop_reason"], "end_turn");
}

// The events of a streamed answer, with the text deltas and input_json_delta fragments of
// each block joined.
struct StreamedBlocks {
  std::vector<std::string> events;
  std::vector<Json> payloads;
  std::vector<Json> blocks;  // content_block_start's block, "text" / "partial" accumulated
};

StreamedBlocks stream_blocks(const std::string& body) {
  StreamedBlocks s;
  s.payloads = sse_payloads(body, &s.events);
  for (const Json& p : s.payloads) {
    if (p["type"] == "content_block_start") {
      EXPECT_EQ(p["index"], s.blocks.size());
      s.blocks.push_back(p["content_block"]);
      s.blocks.back()["partial"] = "";
    } else if (p["type"] == "content_block_delta") {
      EXPECT_EQ(p["index"], s.blocks.size() - 1) << "deltas go to the open block";
      Json& b = s.blocks.at(p["index"].get<size_t>());
      if (p["delta"]["type"] == "text_delta")
        b["text"] = b["text"].get<std::string>() + p["delta"]["text"].get<std::string>();
      else
        b["partial"] =
            b["partial"].get<std::string>() + p["delta"]["partial_json"].get<std::string>();
    }
  }
  return s;
}

TEST(ServerMessagesFormat, StreamToolUseEvents) {
  auto f = make_messages_formatter(tool_request(true), {"msg_1", 0, "tiny"});
  std::string body;
  // The marker split across deltas; the space before it is layout.
  for (const std::string delta :
       {"Sure", ". <tool_c", "all>\n{\"name\": \"get_weather\", \"arguments\": {\"ci",
        "ty\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"argu",
        "ments\": {\"city\": \"Oslo\"}}\n</tool_call>"})
    f->on_output(0, output({delta}), body);
  f->on_output(0, output({""}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const StreamedBlocks s = stream_blocks(body);
  EXPECT_EQ(s.events, (std::vector<std::string>{
                          "message_start", "ping", "content_block_start", "content_block_delta",
                          "content_block_delta", "content_block_stop", "content_block_start",
                          "content_block_delta", "content_block_delta", "content_block_stop",
                          "content_block_start", "content_block_delta", "content_block_stop",
                          "message_delta", "message_stop"}));
  ASSERT_EQ(s.blocks.size(), 3u);
  EXPECT_EQ(s.blocks[0]["type"], "text");
  EXPECT_EQ(s.blocks[0]["text"], "Sure.");
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(s.blocks[i]["type"], "tool_use");
    EXPECT_TRUE(s.blocks[i]["id"].get<std::string>().starts_with("toolu_"));
    EXPECT_EQ(s.blocks[i]["name"], "get_weather");
    EXPECT_EQ(s.blocks[i]["input"], Json::object());  // the input comes as deltas
  }
  EXPECT_EQ(s.blocks[1]["partial"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(s.blocks[2]["partial"], "{\"city\":\"Oslo\"}");
  EXPECT_EQ(s.payloads[7]["delta"]["type"], "input_json_delta");
  EXPECT_EQ(s.payloads[13]["delta"]["stop_reason"], "tool_use");
}

TEST(ServerMessagesFormat, StreamBrokenCallIsClosedAndItsTextFollows) {
  auto f = make_messages_formatter(tool_request(true), {"msg_1", 0, "tiny"});
  std::string body;
  const std::string broken = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1";
  f->on_output(0, output({broken}), body);
  f->on_output(0, output({""}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const StreamedBlocks s = stream_blocks(body);
  EXPECT_EQ(s.events, (std::vector<std::string>{
                          "message_start", "ping", "content_block_start", "content_block_delta",
                          "content_block_stop", "content_block_start", "content_block_delta",
                          "content_block_stop", "message_delta", "message_stop"}));
  ASSERT_EQ(s.blocks.size(), 2u);
  EXPECT_EQ(s.blocks[0]["type"], "tool_use");  // sent before it broke
  EXPECT_EQ(s.blocks[0]["partial"], "{\"a\":1");
  EXPECT_EQ(s.blocks[1]["type"], "text");
  EXPECT_EQ(s.blocks[1]["text"], broken);
  EXPECT_EQ(s.payloads[8]["delta"]["stop_reason"], "end_turn");  // no valid call
}

TEST(ServerMessagesFormat, StreamWithToolsAndNoOutputHasOneEmptyTextBlock) {
  auto f = make_messages_formatter(tool_request(true), {"msg_1", 0, "tiny"});
  std::string body;
  f->on_output(0, output({""}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const StreamedBlocks s = stream_blocks(body);
  EXPECT_EQ(s.events,
            (std::vector<std::string>{"message_start", "ping", "content_block_start",
                                      "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(s.payloads[2]["content_block"], (Json{{"type", "text"}, {"text", ""}}));
  EXPECT_EQ(s.payloads[4]["delta"]["stop_reason"], "end_turn");
}

TEST(ServerErrors, BodiesInEachFlavor) {
  ApiError e = ApiError::bad_request("top_p must be in (0, 1]", "top_p");
  EXPECT_EQ(Json::parse(error_body(e, ApiFlavor::kOpenAI)),
            (Json{{"error",
                   {{"message", "top_p must be in (0, 1]"},
                    {"type", "invalid_request_error"},
                    {"param", "top_p"},
                    {"code", nullptr}}}}));
  EXPECT_EQ(Json::parse(error_body(e, ApiFlavor::kAnthropic)),
            (Json{{"type", "error"},
                  {"error",
                   {{"type", "invalid_request_error"}, {"message", "top_p must be in (0, 1]"}}}}));
  HttpReply limited = error_reply(ApiError::rate_limited("full", 2), ApiFlavor::kOpenAI);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers, (HeaderList{{"Retry-After", "2"}}));
  EXPECT_EQ(Json::parse(
                error_reply(ApiError::unauthorized(), ApiFlavor::kAnthropic).body)["error"]["type"],
            "authentication_error");
  EXPECT_EQ(flavor_for_path("/v1/messages/count_tokens"), ApiFlavor::kAnthropic);
  EXPECT_EQ(flavor_for_path("/v1/chat/completions"), ApiFlavor::kOpenAI);
}

}  // namespace
}  // namespace kiln::server
