// OpenAI's Responses API (src/server/responses/): request bodies into a turn of generation
// (input shapes, instructions, tools, text.format, previous_response_id, the 400/404s that
// name the field), engine outputs into the Response object and its event stream (shapes,
// event order, sequence numbers, ids that agree between the events and the final object),
// and the store behind previous_response_id and GET/DELETE (bound, expiry, deletion).
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "fake_backend.h"
#include "server/responses/formatter.h"
#include "server/responses/items.h"
#include "server/responses/mcp_items.h"
#include "server/responses/request.h"
#include "server/responses/routes.h"
#include "server/responses/store.h"
#include "server_test_util.h"

namespace kiln::server {
namespace {

using testing::byte_tokenizer;
using testing::output;
using testing::test_model;

Json parse(const std::string& text) { return Json::parse(text); }

// ---- The store -----------------------------------------------------------------------------

struct FakeClock {
  ResponseStore::Clock::time_point now{};
  std::function<ResponseStore::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

StoredResponse stored(const std::string& text) {
  auto segment = std::make_shared<ConversationSegment>();
  segment->items.push_back({{"type", "message"}, {"role", "user"}, {"content", text}});
  return {Json{{"id", text}}, segment};
}

TEST(ServerResponsesStore, BoundDropsTheOldest) {
  FakeClock clock;
  ResponseStore store({.max_responses = 2, .ttl_seconds = 100}, clock.fn());
  store.put("a", stored("a"));
  store.put("b", stored("b"));
  store.put("c", stored("c"));
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.get("a"));
  ASSERT_TRUE(store.get("b"));
  EXPECT_EQ(store.get("c")->response["id"], "c");
}

TEST(ServerResponsesStore, EntriesExpire) {
  FakeClock clock;
  ResponseStore store({.max_responses = 10, .ttl_seconds = 60}, clock.fn());
  store.put("a", stored("a"));
  clock.now += std::chrono::seconds(30);
  store.put("b", stored("b"));
  clock.now += std::chrono::seconds(31);  // a is 61 s old, b 31 s
  EXPECT_FALSE(store.get("a"));
  EXPECT_TRUE(store.get("b"));
  EXPECT_FALSE(store.erase("a"));
  clock.now += std::chrono::seconds(30);
  EXPECT_FALSE(store.get("b"));
  EXPECT_EQ(store.size(), 0u);
}

TEST(ServerResponsesStore, DeleteAndTheRoutes) {
  ResponseStore store({.max_responses = 10, .ttl_seconds = 60});
  store.put("resp_1", stored("resp_1"));
  HttpReply got = retrieve_response(store, "resp_1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(parse(got.body)["id"], "resp_1");
  HttpReply deleted = delete_response(store, "resp_1");
  EXPECT_EQ(deleted.status, 200);
  EXPECT_EQ(parse(deleted.body),
            parse(R"({"id": "resp_1", "object": "response.deleted", "deleted": true})"));
  for (const HttpReply& r : {retrieve_response(store, "resp_1"), delete_response(store, "resp_1"),
                             retrieve_response(store, "resp_unknown")}) {
    EXPECT_EQ(r.status, 404);
    const Json e = parse(r.body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_NE(e["message"].get<std::string>().find("not found"), std::string::npos);
  }
  // A store of size 0 keeps nothing.
  ResponseStore none({.max_responses = 0, .ttl_seconds = 60});
  none.put("x", stored("x"));
  EXPECT_FALSE(none.get("x"));
}

TEST(ServerResponsesStore, ConversationSegmentsChainAndOutliveTheirIndexEntry) {
  ResponseStore store({.max_responses = 1, .ttl_seconds = 60});
  StoredResponse first = stored("one");
  store.put("r1", first);
  auto second = std::make_shared<ConversationSegment>();
  second->parent = first.conversation;
  second->items.push_back({{"type", "message"}, {"role", "user"}, {"content", "two"}});
  store.put("r2", {Json::object(), second});  // evicts r1 from the index
  EXPECT_FALSE(store.get("r1"));
  const Json items = conversation_items(store.get("r2")->conversation);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["content"], "one");
  EXPECT_EQ(items[1]["content"], "two");
  EXPECT_EQ(conversation_items(nullptr), Json::array());
}

// ---- Input items into the template's messages ----------------------------------------------

TEST(ServerResponsesItems, StringAndItemShapesBecomeChatMessages) {
  auto one = normalize_responses_input(Json("Hi"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*one, parse(R"([{"type": "message", "role": "user", "content": "Hi"}])"));

  auto items = normalize_responses_input(parse(R"([
      {"role": "developer", "content": "Be brief."},
      {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"},
                                                     {"type": "input_text", "text": "b"}]},
      {"type": "message", "role": "assistant",
       "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
      {"type": "function_call", "call_id": "call_1", "name": "get_weather",
       "arguments": "{\"city\":\"Paris\"}"},
      {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
      {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
      {"type": "function_call_output", "call_id": "call_2",
       "output": [{"type": "input_text", "text": "noon"}]}])"));
  ASSERT_TRUE(items.ok()) << items.error().message;
  EXPECT_EQ((*items)[0]["type"], "message");  // filled in
  auto messages = responses_template_messages("Answer in French.", *items);
  ASSERT_TRUE(messages.ok()) << messages.error().message;
  EXPECT_EQ(*messages, parse(R"([
      {"role": "system", "content": "Answer in French."},
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "a\nb"},
      {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": {}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
      {"role": "tool", "tool_call_id": "call_2", "content": "noon"}])"));

  // A call with no assistant message before it gets one of its own.
  auto bare = responses_template_messages(std::nullopt, parse(R"([
      {"type": "message", "role": "user", "content": "x"},
      {"type": "function_call", "call_id": "c", "name": "f", "arguments": "not json"}])"));
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ((*bare)[1], parse(R"({"role": "assistant", "content": "", "tool_calls": [
      {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]})"));
}

TEST(ServerResponsesItems, BadItemsAreNamed) {
  struct Case {
    const char* input;
    const char* param;
  };
  for (const Case& c : std::vector<Case>{
           {R"(5)", "input"},
           {R"([])", "input"},
           {R"([1])", "input[0]"},
           {R"([{"role": "tool", "content": "x"}])", "input[0].role"},
           {R"([{"role": "user"}])", "input[0].content"},
           {R"([{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}])",
            "input[0].content[0].type"},
           {R"([{"role": "user", "content": [{"type": "input_text"}]}])",
            "input[0].content[0].text"},
           {R"([{"role": "user", "content": "x"}, {"type": "reasoning", "summary": []}])",
            "input[1].type"},
           {R"([{"type": "function_call", "call_id": "c", "name": "f"}])", "input[0].arguments"},
           {R"([{"type": "function_call", "call_id": "c", "name": 5, "arguments": "{}"}])",
            "input[0].name"},
           {R"([{"type": "function_call_output", "call_id": "c"}])", "input[0].output"},
       }) {
    auto r = normalize_responses_input(parse(c.input));
    ASSERT_FALSE(r.ok()) << c.input;
    EXPECT_EQ(r.error().status, 400) << c.input;
    EXPECT_EQ(r.error().param, c.param) << c.input << ": " << r.error().message;
  }
}

// ---- Request bodies ------------------------------------------------------------------------

// A model with an engine (fake weights, the byte tokenizer) so grammars compile.
class ServerResponsesRequest : public ::testing::Test {
 protected:
  ServerResponsesRequest()
      : backend_(64, 16, byte_tokenizer().vocab_size(), 256),
        engine_(backend_, &byte_tokenizer(), EngineConfig{}) {
    model_.engine = &engine_;
  }

  ApiResult<ResponsesRequest> parse_with(const std::string& fields) {
    return parse_responses_request(parse(R"({"model": "tiny")" + fields + "}"), model_, store_);
  }
  std::string prompt_of(const ResponsesRequest& r) {
    return byte_tokenizer().decode(r.generation.prompt);
  }

  static constexpr const char* kTools = R"(, "tools": [{"type": "function",
      "name": "get_weather", "description": "Current weather", "strict": true,
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"], "additionalProperties": false}}])";

  kiln::testing::FakeBackend backend_;
  Engine engine_;
  ModelContext model_ = test_model();
  ResponseStore store_{ResponseStoreOptions{}};
};

TEST_F(ServerResponsesRequest, StringInputWithInstructionsAndEchoedDefaults) {
  auto r = parse_with(R"(, "input": "Hi", "instructions": "Be kind.", "max_output_tokens": 20,
                         "temperature": 0, "metadata": {"k": "v"}, "user": "u1",
                         "some_future_field": {"x": 1})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(prompt_of(*r),
            "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(r->generation.sampling.max_tokens, 20);
  EXPECT_EQ(r->generation.sampling.temperature, 0.0f);
  EXPECT_FALSE(r->stream);
  EXPECT_TRUE(r->store);
  EXPECT_EQ(r->generation.grammar, nullptr);
  EXPECT_FALSE(r->tool_format);
  EXPECT_EQ(r->echo["instructions"], "Be kind.");
  EXPECT_EQ(r->echo["max_output_tokens"], 20);
  EXPECT_EQ(r->echo["tools"], Json::array());
  EXPECT_EQ(r->echo["tool_choice"], "auto");
  EXPECT_EQ(r->echo["parallel_tool_calls"], true);
  EXPECT_EQ(r->echo["text"], parse(R"({"format": {"type": "text"}})"));
  EXPECT_EQ(r->echo["top_p"], 1.0);
  EXPECT_EQ(r->echo["metadata"], parse(R"({"k": "v"})"));
  EXPECT_EQ(r->echo["user"], "u1");
  EXPECT_TRUE(r->echo["previous_response_id"].is_null());
}

TEST_F(ServerResponsesRequest, ToolsInTheFlatShapeConstrainTheOutput) {
  auto r = parse_with(std::string(R"(, "input": "Weather in Paris?")") + kTools);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tool_format, tool_calls::ToolCallFormat::kHermes);
  EXPECT_NE(r->generation.grammar, nullptr);  // auto: text, or calls
  EXPECT_EQ(r->echo["tools"][0]["name"], "get_weather");

  std::vector<std::shared_ptr<const structured::CompiledGrammar>> grammars{r->generation.grammar};
  for (const char* choice : {R"("required")", R"({"type": "function", "name": "get_weather"})"}) {
    auto c = parse_with(std::string(R"(, "input": "x", "tool_choice": )") + choice + kTools);
    ASSERT_TRUE(c.ok()) << choice << ": " << c.error().message;
    ASSERT_NE(c->generation.grammar, nullptr);
    for (const auto& g : grammars) EXPECT_NE(g, c->generation.grammar) << choice;
    grammars.push_back(c->generation.grammar);
    EXPECT_EQ(c->echo["tool_choice"], parse(choice));
  }
  // One call only: "required" without parallel calls is the named choice's grammar.
  auto single = parse_with(std::string(R"(, "input": "x", "tool_choice": "required",
                                          "parallel_tool_calls": false)") + kTools);
  ASSERT_TRUE(single.ok()) << single.error().message;
  EXPECT_EQ(single->generation.grammar, grammars[2]);
  EXPECT_EQ(single->echo["parallel_tool_calls"], false);

  auto none = parse_with(std::string(R"(, "input": "x", "tool_choice": "none")") + kTools);
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_EQ(none->generation.grammar, nullptr);
  EXPECT_FALSE(none->tool_format);
}

TEST_F(ServerResponsesRequest, TextFormatIsAStructuredOutputConstraint) {
  const std::string schema = R"({"type": "object", "properties": {"a": {"type": "integer"}}})";
  auto r = parse_with(R"(, "input": "x", "text": {"format": {"type": "json_schema", "name": "A",
                          "strict": true, "schema": )" + schema + "}}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_NE(r->generation.grammar, nullptr);
  EXPECT_EQ(r->echo["text"]["format"]["name"], "A");
  auto object = parse_with(R"(, "input": "x", "text": {"format": {"type": "json_object"}})");
  ASSERT_TRUE(object.ok()) << object.error().message;
  EXPECT_NE(object->generation.grammar, nullptr);
  EXPECT_NE(object->generation.grammar, r->generation.grammar);
  auto plain = parse_with(R"(, "input": "x", "text": {"format": {"type": "text"}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->generation.grammar, nullptr);
  // One grammar per request: tools (unless "none") and a JSON format do not combine.
  auto both = parse_with(R"(, "input": "x", "text": {"format": {"type": "json_object"}})" +
                         std::string(kTools));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().param, "tools");
  EXPECT_NE(both.error().message.find("text.format"), std::string::npos);
}

TEST_F(ServerResponsesRequest, PreviousResponseIdContinuesTheStoredConversation) {
  auto segment = std::make_shared<ConversationSegment>();
  segment->items = parse(R"([{"type": "message", "role": "user", "content": "Weather?"},
      {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
       "arguments": "{\"city\":\"Paris\"}", "status": "completed"}])");
  store_.put("resp_prev", {Json::object(), segment});
  auto r = parse_with(R"(, "previous_response_id": "resp_prev", "instructions": "Short.",
      "input": [{"type": "function_call_output", "call_id": "call_1", "output": "18C"}])");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->previous, segment);
  EXPECT_EQ(r->echo["previous_response_id"], "resp_prev");
  const std::string prompt = prompt_of(*r);
  EXPECT_TRUE(prompt.starts_with("<|im_start|>system\nShort.<|im_end|>\n<|im_start|>user\n"
                                 "Weather?<|im_end|>"))
      << prompt;
  EXPECT_NE(prompt.find("18C"), std::string::npos) << prompt;

  auto missing = parse_with(R"(, "previous_response_id": "resp_gone", "input": "x")");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().status, 404);
  EXPECT_EQ(missing.error().param, "previous_response_id");
  EXPECT_EQ(missing.error().code, "previous_response_not_found");
}

TEST_F(ServerResponsesRequest, MistakesAreNamed) {
  struct Case {
    std::string fields;
    int status;
    const char* param;
  };
  const std::string tools = kTools;
  for (const Case& c : std::vector<Case>{
           {R"(, "input": "x", "model": "other")", 404, "model"},
           {R"(, "nothing": 1)", 400, "input"},
           {R"(, "input": "x", "max_output_tokens": 0)", 400, "max_output_tokens"},
           {R"(, "input": "x", "temperature": "hot")", 400, "temperature"},
           {R"(, "input": "x", "store": "yes")", 400, "store"},
           {R"(, "input": "x", "instructions": 5)", 400, "instructions"},
           {R"(, "input": "x", "metadata": [1])", 400, "metadata"},
           {R"(, "input": "x", "background": true)", 400, "background"},
           {R"(, "input": "x", "conversation": "conv_1")", 400, "conversation"},
           {R"(, "input": "x", "prompt": {"id": "pmpt_1"})", 400, "prompt"},
           {R"(, "input": "x", "tools": [{"type": "web_search"}])", 400, "tools[0].type"},
           {R"(, "input": "x", "tools": [{"type": "mcp", "server_label": "s"}])", 400,
            "tools[0].require_approval"},
           {R"(, "input": "x", "tools": [{"type": "mcp", "server_label": "s",
               "require_approval": "never"}])", 400, "tools[0].server_url"},
           {R"(, "input": "x", "tools": [{"type": "mcp", "server_label": "s",
               "server_url": "http://h/mcp", "require_approval": "never"}],
               "text": {"format": {"type": "json_object"}})",
            400, "tools"},
           {R"(, "input": "x", "tools": [{"type": "mcp", "server_label": "s",
               "server_url": "ftp://h", "require_approval": "never"}])", 400,
            "tools[0].server_url"},
           {R"(, "input": "x", "tool_choice": {"type": "mcp", "server_label": "s", "name": "t"})",
            400, "tool_choice"},
           {R"(, "input": "x", "tools": [{"type": "function"}])", 400, "tools[0].name"},
           {R"(, "input": "x", "tools": [{"type": "function", "function": {"name": "f"}}])", 400,
            "tools[0].name"},
           {R"(, "input": "x", "tool_choice": "required")", 400, "tool_choice"},
           {R"(, "input": "x", "tool_choice": "sometimes")" + tools, 400, "tool_choice"},
           {R"(, "input": "x", "tool_choice": {"type": "function", "name": "nope"})" + tools, 400,
            "tool_choice"},
           {R"(, "input": "x", "tool_choice": {"type": "file_search"})" + tools, 400,
            "tool_choice.type"},
           {R"(, "input": "x", "text": {"format": {"type": "xml"}})", 400, "text.format.type"},
           {R"(, "input": "x", "text": {"format": {"type": "json_schema"}})", 400,
            "text.format.schema"},
           {R"(, "input": "x", "text": {"format": {"type": "json_schema",
                "schema": {"type": "object", "not": {}}}})",
            400, "text.format.schema"},
           {R"(, "input": [{"role": "user", "content": [{"type": "input_file"}]}])", 400,
            "input[0].content[0].type"},
       }) {
    auto r = parse_with(c.fields);
    ASSERT_FALSE(r.ok()) << c.fields;
    EXPECT_EQ(r.error().status, c.status) << c.fields;
    EXPECT_EQ(r.error().param, c.param) << c.fields << ": " << r.error().message;
  }
  // A tool in chat's nested shape is told what shape this API takes.
  auto nested = parse_with(R"(, "input": "x", "tools": [{"type": "function",
                                "function": {"name": "f"}}])");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.error().message.find("flat"), std::string::npos) << nested.error().message;
}

// ---- The Response object and its stream ----------------------------------------------------

// Events of a stream: their `event:` names and payloads.
struct Events {
  std::vector<std::string> types;
  std::vector<Json> payloads;
};
Events events_of(const std::string& body) {
  Events e;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos);
    if (end == std::string::npos) break;
    const std::string event = body.substr(pos, end - pos);
    pos = end + 2;
    EXPECT_TRUE(event.starts_with("event: ")) << event;
    const size_t nl = event.find('\n');
    e.types.push_back(event.substr(7, nl - 7));
    EXPECT_EQ(event.substr(nl + 1, 6), "data: ") << event;
    e.payloads.push_back(parse(event.substr(nl + 7)));
    EXPECT_EQ(e.payloads.back()["type"], e.types.back()) << event;
    EXPECT_EQ(e.payloads.back()["sequence_number"], (int64_t)e.payloads.size() - 1) << event;
  }
  return e;
}

class ServerResponsesFormat : public ::testing::Test {
 protected:
  ResponsesRequest request(bool stream, bool tools = false) {
    auto r = parse_responses_request(
        parse(std::string(R"({"model": "tiny", "input": "Hi", "stream": )") +
              (stream ? "true" : "false") + "}"),
        model_, store_);
    EXPECT_TRUE(r.ok());
    if (tools) r->tool_format = tool_calls::ToolCallFormat::kHermes;
    return std::move(*r);
  }
  ModelContext model_ = test_model();
  ResponseStore store_{ResponseStoreOptions{}};
  const ResponseMeta meta_{"resp_1", 1700000000, "tiny"};
};

TEST_F(ServerResponsesFormat, BufferedResponseShapeAndStore) {
  auto f = make_responses_formatter(request(false), meta_, &store_);
  std::string body;
  f->on_output(0, output({"Hel"}, {}, 12, 4), body);
  f->on_output(0, output({"lo!"}, {FinishReason::kStop}, 12, 4), body);
  EXPECT_EQ(body, "");
  f->on_finished(body);
  const Json r = parse(body);
  EXPECT_EQ(r["id"], "resp_1");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["created_at"], 1700000000);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_TRUE(r["error"].is_null());
  EXPECT_TRUE(r["incomplete_details"].is_null());
  EXPECT_EQ(r["model"], "tiny");
  ASSERT_EQ(r["output"].size(), 1u);
  const Json& msg = r["output"][0];
  EXPECT_EQ(msg["type"], "message");
  EXPECT_TRUE(msg["id"].get<std::string>().starts_with("msg_"));
  EXPECT_EQ(msg["status"], "completed");
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_EQ(msg["content"], parse(R"([{"type": "output_text", "text": "Hello!",
                                       "annotations": []}])"));
  EXPECT_EQ(r["usage"], parse(R"({"input_tokens": 12, "input_tokens_details":
      {"cached_tokens": 4}, "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 0},
      "total_tokens": 18})"));
  for (const char* key : {"instructions", "max_output_tokens", "parallel_tool_calls",
                          "previous_response_id", "store", "temperature", "text", "tool_choice",
                          "tools", "top_p", "metadata", "user"})
    EXPECT_TRUE(r.contains(key)) << key;

  // Stored: the response as returned, and the conversation (input, then output).
  std::optional<StoredResponse> kept = store_.get("resp_1");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->response, r);
  const Json items = conversation_items(kept->conversation);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0]["role"], "user");
  EXPECT_EQ(items[1], msg);
}

TEST_F(ServerResponsesFormat, CutOffIsIncompleteAndStoreFalseKeepsNothing) {
  ResponsesRequest r = request(false);
  r.store = false;
  auto f = make_responses_formatter(r, meta_, &store_);
  std::string body;
  f->on_output(0, output({"abc"}, {FinishReason::kLength}), body);
  f->on_finished(body);
  const Json j = parse(body);
  EXPECT_EQ(j["status"], "incomplete");
  EXPECT_EQ(j["incomplete_details"], parse(R"({"reason": "max_output_tokens"})"));
  EXPECT_EQ(j["output"][0]["status"], "incomplete");
  EXPECT_FALSE(store_.get("resp_1"));
}

TEST_F(ServerResponsesFormat, BufferedCallsBecomeFunctionCallItems) {
  auto f = make_responses_formatter(request(false, true), meta_, &store_);
  std::string body;
  f->on_output(0,
               output({"Sure. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                       "{\"city\": \"Paris\"}}\n</tool_call>"},
                      {FinishReason::kStop}),
               body);
  f->on_finished(body);
  const Json out = parse(body)["output"];
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["content"][0]["text"], "Sure.");
  EXPECT_EQ(out[1]["type"], "function_call");
  EXPECT_TRUE(out[1]["id"].get<std::string>().starts_with("fc_"));
  EXPECT_TRUE(out[1]["call_id"].get<std::string>().starts_with("call_"));
  EXPECT_EQ(out[1]["name"], "get_weather");
  EXPECT_EQ(out[1]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(out[1]["status"], "completed");
}

TEST_F(ServerResponsesFormat, StreamEventSequenceForText) {
  auto f = make_responses_formatter(request(true), meta_, &store_);
  std::string body;
  f->on_output(0, output({"Hel"}), body);
  f->on_output(0, output({"lo"}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const Events e = events_of(body);
  EXPECT_EQ(e.types, (std::vector<std::string>{
                         "response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta",
                         "response.output_text.delta", "response.output_text.done",
                         "response.content_part.done", "response.output_item.done",
                         "response.completed"}));
  EXPECT_EQ(e.payloads[0]["response"]["status"], "in_progress");
  EXPECT_EQ(e.payloads[0]["response"]["output"], Json::array());
  const Json& added = e.payloads[2];
  EXPECT_EQ(added["output_index"], 0);
  EXPECT_EQ(added["item"]["status"], "in_progress");
  EXPECT_EQ(added["item"]["content"], Json::array());
  const std::string item_id = added["item"]["id"];
  for (int i : {3, 4, 5, 6, 7}) {
    EXPECT_EQ(e.payloads[i]["item_id"], item_id) << i;
    EXPECT_EQ(e.payloads[i]["content_index"], 0) << i;
  }
  EXPECT_EQ(e.payloads[4]["delta"], "Hel");
  EXPECT_EQ(e.payloads[6]["text"], "Hello");
  const Json& final = e.payloads[9]["response"];
  EXPECT_EQ(final["status"], "completed");
  EXPECT_EQ(final["output"][0]["id"], item_id);
  EXPECT_EQ(final["output"][0], e.payloads[8]["item"]);
  EXPECT_EQ(final["output"][0]["content"][0]["text"], "Hello");
  // A streamed response is stored too.
  ASSERT_TRUE(store_.get("resp_1"));
  EXPECT_EQ(store_.get("resp_1")->response, final);
}

TEST_F(ServerResponsesFormat, StreamEventSequenceForACall) {
  auto f = make_responses_formatter(request(true, true), meta_, &store_);
  std::string body;
  for (const std::string delta : {"<tool_c", "all>\n{\"name\": \"get_weather\", \"argu",
                                  "ments\": {\"city\": \"Pa", "ris\"}}\n</tool_call>"})
    f->on_output(0, output({delta}), body);
  f->on_output(0, output({""}, {FinishReason::kStop}), body);
  f->on_finished(body);
  const Events e = events_of(body);
  ASSERT_GE(e.types.size(), 6u);
  EXPECT_EQ(e.types[2], "response.output_item.added");
  const Json& item = e.payloads[2]["item"];
  EXPECT_EQ(item["type"], "function_call");
  EXPECT_EQ(item["name"], "get_weather");
  EXPECT_EQ(item["arguments"], "");
  std::string arguments;
  size_t i = 3;
  for (; e.types[i] == "response.function_call_arguments.delta"; ++i) {
    EXPECT_EQ(e.payloads[i]["item_id"], item["id"]);
    arguments += e.payloads[i]["delta"].get<std::string>();
  }
  EXPECT_GE(i, 4u);  // the arguments came in pieces as they were written
  EXPECT_EQ(arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(std::vector<std::string>(e.types.begin() + i, e.types.end()),
            (std::vector<std::string>{"response.function_call_arguments.done",
                                      "response.output_item.done", "response.completed"}));
  EXPECT_EQ(e.payloads[i]["arguments"], arguments);
  const Json& final = e.payloads.back()["response"];
  ASSERT_EQ(final["output"].size(), 1u);
  EXPECT_EQ(final["output"][0]["call_id"], item["call_id"]);
  EXPECT_EQ(final["output"][0]["status"], "completed");
  EXPECT_EQ(final["output"][0]["arguments"], arguments);
}

TEST_F(ServerResponsesFormat, StreamCutOffCallAndFailure) {
  // A call cut off by max_output_tokens ends "incomplete"; so does the response.
  auto f = make_responses_formatter(request(true, true), meta_, &store_);
  std::string body;
  f->on_output(0, output({"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1"},
                         {FinishReason::kLength}),
               body);
  f->on_finished(body);
  Events e = events_of(body);
  EXPECT_EQ(e.types.back(), "response.incomplete");
  const Json& final = e.payloads.back()["response"];
  EXPECT_EQ(final["status"], "incomplete");
  ASSERT_EQ(final["output"].size(), 1u);
  EXPECT_EQ(final["output"][0]["type"], "function_call");
  EXPECT_EQ(final["output"][0]["status"], "incomplete");

  // A failure before any output still opens the stream, then fails it.
  auto g = make_responses_formatter(request(true), meta_, nullptr);
  std::string failed;
  g->on_stream_error(ApiError::internal("the engine failed"), failed);
  e = events_of(failed);
  EXPECT_EQ(e.types, (std::vector<std::string>{"response.created", "response.in_progress",
                                               "response.failed"}));
  EXPECT_EQ(e.payloads[2]["response"]["status"], "failed");
  EXPECT_EQ(e.payloads[2]["response"]["error"]["code"], "server_error");
  EXPECT_EQ(e.payloads[2]["response"]["error"]["message"], "the engine failed");
}

TEST_F(ServerResponsesRequest, McpToolsPlanTheToolLoop) {
  auto r = parse_with(R"(, "input": "x", "tools": [{"type": "mcp", "server_label": "s",
      "server_url": "http://h/mcp", "require_approval": "never", "allowed_tools": ["a"],
      "headers": {"X-Team": "1"}, "authorization": "tok"}],
      "tool_choice": {"type": "mcp", "server_label": "s", "name": "a"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->tool_loop);
  const ToolLoopPlan& plan = *r->tool_loop;
  ASSERT_EQ(plan.servers.size(), 1u);
  const McpServerRef& ref = plan.servers[0];
  EXPECT_EQ(ref.label, "s");
  ASSERT_TRUE(ref.own);
  EXPECT_EQ(ref.own->url, "http://h/mcp");
  EXPECT_EQ(ref.own->headers.at("X-Team"), "1");
  EXPECT_EQ(ref.own->headers.at("Authorization"), "Bearer tok");
  EXPECT_EQ(ref.allowed_tools, std::vector<std::string>{"a"});
  EXPECT_EQ(plan.first_choice.mode, tool_calls::ToolChoice::Mode::kNamed);
  EXPECT_EQ(plan.first_choice.name, "a");
  EXPECT_EQ(plan.choice_server, "s");
  // The loop renders each turn once the server has listed its tools.
  EXPECT_TRUE(r->generation.prompt.empty());
  EXPECT_FALSE(r->generation.grammar);
  ASSERT_EQ(plan.conversation.size(), 1u);
  EXPECT_EQ(plan.conversation[0]["content"], "x");

  // tool_choice "none": the server is not even asked for its tools.
  auto none = parse_with(R"(, "input": "x", "tool_choice": "none", "tools": [{"type": "mcp",
      "server_label": "s", "server_url": "http://h/mcp", "require_approval": "never"}])");
  ASSERT_TRUE(none.ok()) << none.error().message;
  EXPECT_FALSE(none->tool_loop);
  EXPECT_FALSE(none->generation.prompt.empty());
}

TEST(ServerResponsesMcpItems, ErrorsAndResults) {
  EXPECT_EQ(mcp_error_json("error -32602: Unknown tool: x"),
            parse(R"({"type": "mcp_protocol_error", "code": -32602,
                      "message": "Unknown tool: x"})"));
  EXPECT_EQ(mcp_error_json("HTTP 500: boom"),
            parse(R"({"type": "http_error", "code": 500, "message": "HTTP 500: boom"})"));
  EXPECT_EQ(mcp_error_json("timed out waiting for the server's answer")["code"], -32001);
  EXPECT_EQ(mcp_error_json("HTTP transfer failed: Couldn't connect to server")["code"], -32000);
  EXPECT_EQ(mcp_error_json("the server exited with status 3")["code"], -32000);

  McpCallOutcome ok;
  ok.result = mcp_client::ToolResult{false, "42"};
  Json item = mcp_call_item("mcp_1", "s", "add", "{}", ok);
  EXPECT_EQ(item["output"], "42");
  EXPECT_TRUE(item["error"].is_null());
  EXPECT_EQ(item["status"], "completed");
  EXPECT_EQ(mcp_outcome_text(ok), "42");

  McpCallOutcome failed;
  failed.result = mcp_client::ToolResult{true, "no such city"};
  item = mcp_call_item("mcp_2", "s", "add", "{}", failed);
  EXPECT_TRUE(item["output"].is_null());
  EXPECT_EQ(item["error"]["type"], "mcp_tool_execution_error");
  EXPECT_EQ(item["error"]["content"][0]["text"], "no such city");
  EXPECT_EQ(item["status"], "failed");
  EXPECT_EQ(mcp_outcome_text(failed), "Error: no such city");

  McpCallOutcome broken;
  broken.error = "the server exited with status 3";
  EXPECT_EQ(mcp_outcome_text(broken), "Error: the server exited with status 3");
  EXPECT_EQ(mcp_call_item("mcp_3", "s", "add", "{}", broken)["status"], "failed");
}

TEST(ServerResponsesMcpItems, StoredCallsAreHistoryForTheNextTurn) {
  const Json conversation = parse(R"([
      {"type": "message", "role": "user", "content": "secret?"},
      {"type": "mcp_list_tools", "id": "mcpl_1", "server_label": "s", "tools": []},
      {"type": "mcp_call", "id": "mcp_1", "server_label": "s", "name": "get_secret",
       "arguments": "{}", "output": "PURPLE", "error": null},
      {"type": "message", "role": "assistant", "content": [{"type": "output_text",
       "text": "It is PURPLE."}]}])");
  auto messages = responses_template_messages(std::nullopt, conversation);
  ASSERT_TRUE(messages.ok()) << messages.error().message;
  ASSERT_EQ(messages->size(), 4u) << messages->dump();
  EXPECT_EQ((*messages)[1]["role"], "assistant");
  EXPECT_EQ((*messages)[1]["tool_calls"][0]["function"]["name"], "get_secret");
  EXPECT_EQ((*messages)[2]["role"], "tool");
  EXPECT_EQ((*messages)[2]["content"], "PURPLE");
  EXPECT_EQ((*messages)[3]["content"], "It is PURPLE.");
}

}  // namespace
}  // namespace kiln::server
