// MCP's JSON-RPC dispatch (server/mcp/): the handshake, errors by the spec's codes, the tool
// list, tool calls answered at once or handed back as generations, and the replies built
// from engine outputs (progress notifications, the final result).
#include <gtest/gtest.h>

#include "server/mcp/dispatcher.h"
#include "server/mcp/jsonrpc.h"
#include "server_test_util.h"

namespace kiln::server::mcp {
namespace {

using testing::output;
using testing::test_model;

class McpDispatchTest : public ::testing::Test {
 protected:
  ModelContext model_ = test_model();
  Dispatcher dispatcher_{model_};

  Json reply(const std::string& text) {
    Step step = dispatcher_.handle_text(text);
    EXPECT_FALSE(step.generation.has_value());
    EXPECT_TRUE(step.reply.has_value());
    return step.reply.value_or(Json());
  }
  Json call(const std::string& tool, const Json& arguments) {
    Json msg = {{"jsonrpc", "2.0"},
                {"id", 7},
                {"method", "tools/call"},
                {"params", {{"name", tool}, {"arguments", arguments}}}};
    return reply(msg.dump());
  }
  static int error_code(const Json& r) { return r.at("error").at("code").get<int>(); }
};

TEST_F(McpDispatchTest, InitializeEchoesAKnownVersionAndOffersItsNewestOtherwise) {
  Json r = reply(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  EXPECT_EQ(r["id"], 1);
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-06-18");
  EXPECT_EQ(r["result"]["serverInfo"]["name"], "kiln");
  EXPECT_TRUE(r["result"]["capabilities"].contains("tools"));
  r = reply(
      R"({"jsonrpc":"2.0","id":"a","method":"initialize","params":{"protocolVersion":"1999-01-01"}})");
  EXPECT_EQ(r["id"], "a");
  EXPECT_EQ(r["result"]["protocolVersion"], "2025-11-25");
  r = reply(R"({"jsonrpc":"2.0","id":2,"method":"initialize","params":{}})");
  EXPECT_EQ(error_code(r), kInvalidParams);
}

TEST_F(McpDispatchTest, ProtocolErrorsUseTheJsonRpcCodes) {
  Json r = reply("{not json");
  EXPECT_EQ(error_code(r), kParseError);
  EXPECT_TRUE(r["id"].is_null());
  EXPECT_EQ(error_code(reply(R"([{"jsonrpc":"2.0","id":1,"method":"ping"}])")), kInvalidRequest);
  EXPECT_EQ(error_code(reply(R"({"jsonrpc":"1.0","id":1,"method":"ping"})")), kInvalidRequest);
  EXPECT_EQ(error_code(reply(R"({"jsonrpc":"2.0","id":{"x":1},"method":"ping"})")),
            kInvalidRequest);
  EXPECT_EQ(error_code(reply(R"({"jsonrpc":"2.0","id":1,"method":5})")), kInvalidRequest);
  r = reply(R"({"jsonrpc":"2.0","id":3,"method":"server/discover","params":{}})");
  EXPECT_EQ(error_code(r), kMethodNotFound);
  EXPECT_EQ(r["id"], 3);
  EXPECT_EQ(error_code(reply(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]})")),
            kInvalidParams);
}

TEST_F(McpDispatchTest, NotificationsAndClientResponsesGetNoAnswer) {
  for (const char* text :
       {R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
        R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})",
        R"({"jsonrpc":"2.0","id":9,"result":{}})"}) {
    Step step = dispatcher_.handle_text(std::string(text));
    EXPECT_FALSE(step.reply.has_value()) << text;
    EXPECT_FALSE(step.generation.has_value()) << text;
  }
}

TEST_F(McpDispatchTest, PingAndToolsList) {
  EXPECT_EQ(reply(R"({"jsonrpc":"2.0","id":1,"method":"ping"})")["result"], Json::object());
  Json tools =
      reply(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}})")["result"]["tools"];
  std::vector<std::string> names;
  for (const Json& t : tools) {
    names.push_back(t["name"]);
    EXPECT_EQ(t["inputSchema"]["type"], "object") << t["name"];
    EXPECT_FALSE(t["description"].get<std::string>().empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"chat", "complete", "list_models", "tokenize"}));
  EXPECT_EQ(tools[0]["inputSchema"]["required"], Json::array({"messages"}));
}

TEST_F(McpDispatchTest, ImmediateToolsAnswerWithText) {
  Json r = call("tokenize", {{"text", "hi"}, {"add_special_tokens", false}});
  EXPECT_EQ(r["result"]["isError"], false);
  Json body = Json::parse(r["result"]["content"][0]["text"].get<std::string>());
  EXPECT_EQ(body["tokens"], Json::array({'h', 'i'}));
  EXPECT_EQ(body["count"], 2);
  r = call("list_models", nullptr);
  body = Json::parse(r["result"]["content"][0]["text"].get<std::string>());
  EXPECT_EQ(body["models"][0]["id"], "tiny");
  EXPECT_EQ(body["models"][1]["id"], "tiny-alias");
  EXPECT_EQ(body["models"][0]["max_model_len"], 256);
}

TEST_F(McpDispatchTest, BadArgumentsAreToolErrorsAndUnknownToolsProtocolErrors) {
  EXPECT_EQ(error_code(call("no_such_tool", Json::object())), kInvalidParams);
  EXPECT_EQ(error_code(reply(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}})")),
            kInvalidParams);
  const std::vector<std::pair<std::string, Json>> bad = {
      {"tokenize", Json::object()},
      {"tokenize", {{"text", 5}}},
      {"tokenize", "text"},
      {"chat", Json::object()},
      {"chat", {{"messages", Json::array()}}},
      {"chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", 9}}},
      {"chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", 0}}},
      {"chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"max_tokens", -1}}},
      {"chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"modle", "tiny"}}},
      {"chat", {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"model", "other"}}},
      {"complete", {{"prompt", ""}}},
      {"complete", {{"prompt", "x"}, {"top_p", 0}}},
      {"list_models", {{"x", 1}}},
  };
  for (const auto& [tool, args] : bad) {
    Json r = call(tool, args);
    ASSERT_TRUE(r.contains("result")) << tool << " " << args.dump();
    EXPECT_EQ(r["result"]["isError"], true) << tool << " " << args.dump();
    EXPECT_FALSE(r["result"]["content"][0]["text"].get<std::string>().empty());
  }
}

TEST_F(McpDispatchTest, GeneratingToolsAreHandedBackWithTheirSampling) {
  Json msg = {{"jsonrpc", "2.0"},
              {"id", "c1"},
              {"method", "tools/call"},
              {"params",
               {{"name", "chat"},
                {"arguments",
                 {{"messages", {{{"role", "user"}, {"content", "hey"}}}},
                  {"temperature", 0},
                  {"max_tokens", 5},
                  {"model", "tiny-alias"}}},
                {"_meta", {{"progressToken", 42}}}}}};
  Step step = dispatcher_.handle_text(msg.dump());
  ASSERT_TRUE(step.generation.has_value());
  EXPECT_FALSE(step.reply.has_value());
  EXPECT_EQ(step.generation->id, "c1");
  EXPECT_EQ(step.generation->progress_token, 42);
  EXPECT_EQ(step.generation->request.sampling.max_tokens, 5);
  EXPECT_TRUE(step.generation->request.sampling.greedy());
  // The chat template ran: the prompt holds the user's text inside ChatML's control tokens.
  const std::string prompt = model_.tokenizer->decode(step.generation->request.prompt);
  EXPECT_NE(prompt.find("<|im_start|>user\nhey<|im_end|>"), std::string::npos) << prompt;

  msg = {{"jsonrpc", "2.0"},
         {"id", 2},
         {"method", "tools/call"},
         {"params", {{"name", "complete"}, {"arguments", {{"prompt", "abc"}}}}}};
  step = dispatcher_.handle_text(msg.dump());
  ASSERT_TRUE(step.generation.has_value());
  EXPECT_TRUE(step.generation->progress_token.is_null());
  // No max_tokens: the default (512), cut to what the 256-token context leaves.
  EXPECT_EQ(step.generation->request.sampling.max_tokens,
            256 - (int32_t)step.generation->request.prompt.size());
}

TEST(McpGenerationReply, ProgressThenTheResult) {
  GenerationReply reply("r", "tok", 8);
  auto progress = reply.on_output(output({"ab"}));
  ASSERT_TRUE(progress.has_value());
  EXPECT_EQ((*progress)["method"], "notifications/progress");
  EXPECT_FALSE(progress->contains("id"));
  EXPECT_EQ((*progress)["params"]["progressToken"], "tok");
  EXPECT_EQ((*progress)["params"]["progress"], 2);
  EXPECT_EQ((*progress)["params"]["total"], 8);
  EXPECT_FALSE(reply.on_output(output({""})).has_value());  // nothing new: no notification
  progress = reply.on_output(output({"cd"}, {FinishReason::kLength}));
  EXPECT_EQ((*progress)["params"]["progress"], 4);
  Json done = reply.finish();
  EXPECT_EQ(done["id"], "r");
  EXPECT_EQ(done["result"]["content"][0]["text"], "abcd");
  EXPECT_EQ(done["result"]["isError"], false);
  EXPECT_EQ(done["result"]["_meta"]["kiln/finish_reason"], "length");
}

TEST(McpGenerationReply, NoProgressTokenNoNotificationsAndFailuresAreToolErrors) {
  GenerationReply quiet(1, nullptr, 8);
  EXPECT_FALSE(quiet.on_output(output({"ab"})).has_value());
  RequestOutput failed = output({"c"}, {FinishReason::kAbort});
  failed.error = Status::Error("engine step failed");
  quiet.on_output(failed);
  Json done = quiet.finish();
  EXPECT_EQ(done["result"]["isError"], true);
  EXPECT_NE(done["result"]["content"][0]["text"].get<std::string>().find("engine step failed"),
            std::string::npos);
  Json refused = GenerationReply::refused(3, "prompt too long");
  EXPECT_EQ(refused["id"], 3);
  EXPECT_EQ(refused["result"]["isError"], true);
}

}  // namespace
}  // namespace kiln::server::mcp
