// kiln's MCP client (src/mcp_client/) against tests/data/mcp/scripted_server.py, a raw stdio
// server that misbehaves on purpose, and against sockets that never answer: every fault is
// a clear error within the timeout, and no child process outlives its client.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "mcp_client/client.h"
#include "mcp_client/config.h"
#include "mcp_client/http_transport.h"
#include "mcp_client/server_pool.h"
#include "mcp_client/stdio_transport.h"

namespace kiln::mcp_client {
namespace {

std::string script_path() {
  return (std::filesystem::path(__FILE__).parent_path() / "../data/mcp/scripted_server.py")
      .lexically_normal()
      .string();
}

StdioCommand scripted(std::vector<std::string> args) {
  StdioCommand c;
  c.command = "python3";
  c.args = {script_path()};
  c.args.insert(c.args.end(), args.begin(), args.end());
  return c;
}

struct Connected {
  std::unique_ptr<McpClient> client;
  pid_t pid = 0;
};

Connected connect_scripted(std::vector<std::string> args, double timeout = 10) {
  auto transport = StdioTransport::spawn(scripted(std::move(args)));
  EXPECT_TRUE(transport.ok()) << transport.message();
  Connected c;
  c.pid = (*transport)->pid();
  auto client = McpClient::connect(std::move(*transport), timeout, nullptr);
  EXPECT_TRUE(client.ok()) << client.message();
  if (client.ok()) c.client = std::move(*client);
  return c;
}

// True when `pid` is no longer a process of ours, zombie or not.
bool gone(pid_t pid) { return kill(pid, 0) != 0 && errno == ESRCH; }

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST(McpClient, HandshakeListsEveryPageAndCallsATool) {
  Connected c = connect_scripted({"echo", "--pages", "3"});
  ASSERT_TRUE(c.client);
  EXPECT_EQ(c.client->protocol_version(), "2025-11-25");
  EXPECT_EQ(c.client->server_name(), "scripted");
  auto tools = c.client->tools(nullptr);
  ASSERT_TRUE(tools.ok()) << tools.message();
  ASSERT_EQ(tools->size(), 3u);
  EXPECT_EQ((*tools)[2].name, "tool2");
  EXPECT_EQ((*tools)[0].description, "Tool number 0.");
  EXPECT_EQ((*tools)[0].input_schema["properties"]["x"]["type"], "string");
  auto result = c.client->call_tool("tool0", {{"x", "hi"}}, nullptr);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_FALSE(result->is_error);
  EXPECT_EQ(result->text, "echo: {\"x\": \"hi\"}");
}

TEST(McpClient, NotificationsBeforeTheAnswerAreSkipped) {
  Connected c = connect_scripted({"sse_noise"});
  ASSERT_TRUE(c.client);
  auto result = c.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_EQ(result->text, "echo: {}");
}

TEST(McpClient, ToolErrorsAndProtocolErrorsDiffer) {
  Connected failing = connect_scripted({"error"});
  auto result = failing.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_TRUE(result.ok()) << result.message();
  EXPECT_TRUE(result->is_error);
  EXPECT_EQ(result->text, "the tool failed");

  Connected unknown = connect_scripted({"unknown"});
  auto refused = unknown.client->call_tool("nope", Json::object(), nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(), "error -32602: Unknown tool: nope");
  EXPECT_TRUE(unknown.client->alive());
}

TEST(McpClient, MalformedResultIsAnError) {
  Connected c = connect_scripted({"malformed"});
  auto result = c.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.message(), "malformed tool result: content is not an array");
}

TEST(McpClient, HangingServerTimesOutAndIsKilledWithItsClient) {
  Connected c = connect_scripted({"hang"}, /*timeout=*/0.5);
  const auto start = Clock::now();
  auto result = c.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.message(), "timed out waiting for the server's answer to tools/call");
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_TRUE(c.client->alive());
  c.client.reset();  // SIGTERM to its group; reaped
  EXPECT_TRUE(gone(c.pid));
}

TEST(McpClient, GarbageLineThenSilenceTimesOut) {
  Connected c = connect_scripted({"garbage"}, /*timeout=*/0.5);
  auto result = c.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.message().find("timed out"), std::string::npos) << result.message();
}

TEST(McpClient, CancelEndsAWaitAtOnce) {
  Connected c = connect_scripted({"hang"}, /*timeout=*/30);
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  const auto start = Clock::now();
  auto result = c.client->call_tool("tool0", Json::object(), &cancel);
  canceller.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.message(), "cancelled");
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST(McpClient, ServerThatExitsIsReapedAndReported) {
  Connected c = connect_scripted({"exit"});
  auto result = c.client->call_tool("tool0", Json::object(), nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.message(), "the server exited with status 3");
  EXPECT_FALSE(c.client->alive());
  EXPECT_TRUE(gone(c.pid));  // reaped, not a zombie, while its client still exists
  auto again = c.client->call_tool("tool0", Json::object(), nullptr);
  EXPECT_EQ(again.message(), "the server exited with status 3");
}

TEST(McpClient, UnknownProtocolVersionEndsTheHandshake) {
  auto transport = StdioTransport::spawn(scripted({"echo", "--version", "1999-01-01"}));
  ASSERT_TRUE(transport.ok());
  auto client = McpClient::connect(std::move(*transport), 10, nullptr);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.message(),
            "initialize: the server speaks protocol version 1999-01-01, which kiln does not");
}

TEST(McpClient, CommandThatCannotStart) {
  StdioCommand c;
  c.command = "kiln-no-such-mcp-server";
  auto transport = StdioTransport::spawn(c);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.message(),
            "cannot start 'kiln-no-such-mcp-server': No such file or directory");
}

TEST(McpClient, EnvironmentReachesTheChild) {
  StdioCommand c;
  c.command = "sh";
  // A "server" that answers initialize with the variable as its version.
  c.args = {"-c", "read line; echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
                  "{\"protocolVersion\":\"'$KILN_TEST_VERSION'\"}}'; cat >/dev/null"};
  c.env = {{"KILN_TEST_VERSION", "2025-06-18"}};
  auto transport = StdioTransport::spawn(c);
  ASSERT_TRUE(transport.ok());
  auto client = McpClient::connect(std::move(*transport), 10, nullptr);
  ASSERT_TRUE(client.ok()) << client.message();
  EXPECT_EQ((*client)->protocol_version(), "2025-06-18");
}

TEST(McpClientPool, RestartsAServerThatExited) {
  McpServerConfig config;
  config.name = "flaky";
  config.stdio = scripted({"exit"});
  ServerPool pool({config}, 10);
  auto first = pool.client("flaky", nullptr);
  ASSERT_TRUE(first.ok()) << first.message();
  EXPECT_FALSE((*first)->call_tool("tool0", Json::object(), nullptr).ok());
  auto second = pool.client("flaky", nullptr);
  ASSERT_TRUE(second.ok()) << second.message();
  EXPECT_NE(first->get(), second->get());
  EXPECT_TRUE((*second)->alive());
  EXPECT_FALSE(pool.client("other", nullptr).ok());
}

TEST(McpClientHttp, RefusedConnectionIsAnError) {
  // A port bound and closed again: nothing listens there.
  HttpTransport t("http://127.0.0.1:1/mcp", {});
  auto r = t.request("initialize", Json::object(), Clock::now() + std::chrono::seconds(5), nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("HTTP transfer failed"), std::string::npos) << r.message();
}

TEST(McpClientHttp, ServerThatNeverAnswersTimesOut) {
  // A socket that listens but never accepts: the connection opens, no reply ever comes.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (sockaddr*)&addr, sizeof addr), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, (sockaddr*)&addr, &len);
  HttpTransport t("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/mcp", {});
  const auto start = Clock::now();
  auto r = t.request("tools/list", Json::object(), Clock::now() + std::chrono::milliseconds(500),
                     nullptr);
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "timed out waiting for the server's answer");
  EXPECT_LT(seconds_since(start), 3.0);
}

TEST(McpClientHttp, SseReaderFindsTheResponseSplitAnywhere) {
  const std::string stream =
      "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n"
      ": a comment\n"
      "data: {\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{}}\n\n"
      "data: {\"jsonrpc\":\"2.0\",\n"
      "data: \"id\":7,\"result\":{\"ok\":true}}\n\n";
  for (size_t split = 0; split <= stream.size(); ++split) {
    SseResponseReader r(7);
    r.feed(stream.substr(0, split));
    r.feed(stream.substr(split));
    ASSERT_TRUE(r.response()) << split;
    EXPECT_EQ((*r.response())["result"]["ok"], true);
  }
  SseResponseReader none(8);
  none.feed(stream);
  EXPECT_FALSE(none.response());
}

TEST(McpClientResult, ReadsContentIntoText) {
  auto r = read_tool_result(Json::parse(R"({"content": [{"type": "text", "text": "a"},
      {"type": "image", "data": "...", "mimeType": "image/png"},
      {"type": "resource", "resource": {"uri": "x", "text": "b"}}]})"));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->text, "a\n[image content]\nb");
  auto structured = read_tool_result(
      Json::parse(R"({"content": [], "structuredContent": {"v": 1}})"));
  ASSERT_TRUE(structured.ok());
  EXPECT_EQ(structured->text, "{\"v\":1}");
  EXPECT_EQ(read_tool_result(Json::parse(R"({"content": [{"type": "text"}]})")).message(),
            "malformed tool result: a text item has no text");
  EXPECT_EQ(read_tool_result(Json::parse(R"({"content": [], "isError": "yes"})")).message(),
            "malformed tool result: isError is not a boolean");
  EXPECT_EQ(read_tool_list(Json::parse(R"({"tools": [{"description": "x"}]})")).message(),
            "malformed tools/list result: a tool has no name");
}

TEST(McpConfig, ReadsBothKindsOfServer) {
  auto servers = parse_mcp_config(R"({"mcpServers": {
      "files": {"command": "npx", "args": ["-y", "server"], "env": {"A": "1"}},
      "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"},
                 "type": "http"}}})",
                                  "mcp.json");
  ASSERT_TRUE(servers.ok()) << servers.message();
  ASSERT_EQ(servers->size(), 2u);
  EXPECT_TRUE((*servers)[0].is_stdio());
  EXPECT_EQ((*servers)[0].stdio.args, (std::vector<std::string>{"-y", "server"}));
  EXPECT_EQ((*servers)[0].stdio.env.at("A"), "1");
  EXPECT_FALSE((*servers)[1].is_stdio());
  EXPECT_EQ((*servers)[1].headers.at("Authorization"), "Bearer t");
}

TEST(McpConfig, ErrorsNameTheFileAndTheField) {
  auto error = [](const std::string& text) { return parse_mcp_config(text, "m.json").message(); };
  EXPECT_EQ(error("{"), "m.json: not valid JSON");
  EXPECT_EQ(error("{}"), "m.json: expected {\"mcpServers\": {NAME: {...}}}");
  EXPECT_EQ(error(R"({"mcpServers": {"a": {}}})"),
            "m.json: mcpServers.a needs either \"command\" (a stdio server) or \"url\" (a "
            "streamable HTTP server)");
  EXPECT_EQ(error(R"({"mcpServers": {"a": {"command": "x", "args": "y"}}})"),
            "m.json: mcpServers.a.args must be an array of strings");
  EXPECT_EQ(error(R"({"mcpServers": {"a": {"command": "x", "env": {"K": 1}}}})"),
            "m.json: mcpServers.a.env.K must be a string");
  EXPECT_EQ(error(R"({"mcpServers": {"a": {"url": "ftp://x"}}})"),
            "m.json: mcpServers.a.url must start with http:// or https://");
  EXPECT_EQ(error(R"({"mcpServers": {"a": {"url": "http://x", "type": "sse"}}})"),
            "m.json: mcpServers.a.type \"sse\" is not supported: kiln speaks streamable HTTP "
            "(the HTTP+SSE transport was deprecated in 2025-03-26)");
  EXPECT_EQ(read_mcp_config_file("/nonexistent/mcp.json").message(),
            "/nonexistent/mcp.json: cannot be read");
}

}  // namespace
}  // namespace kiln::mcp_client
