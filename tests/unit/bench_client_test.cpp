// The load generator end to end in-process: kiln's own HttpServer on a loopback port with a
// fake handler that streams OpenAI-style SSE (and misbehaves on request: a 429 with an
// OpenAI error body, a stream cut before [DONE], garbage data, no usage, a stream that never
// ends), driven through run_load. Checks records and error kinds, never timings.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/load_run.h"
#include "bench/openai_request.h"
#include "server/http/http_server.h"

namespace kiln::bench {
namespace {

using nlohmann::json;

// Streams its chunks one per poll, waking itself for the next.
class ScriptedJob final : public server::ResponseJob {
 public:
  ScriptedJob(std::vector<std::string> chunks, bool never_ends)
      : chunks_(std::move(chunks)), never_ends_(never_ends) {}
  bool streaming() const override { return true; }
  void start(std::function<void()> wake) override {
    wake_ = std::move(wake);
    wake_();
  }
  bool poll(std::string& body) override {
    if (next_ < chunks_.size()) {
      body += chunks_[next_++];
      wake_();
      return false;
    }
    return !never_ends_;
  }
  server::HttpReply reply() override {
    server::HttpReply r;
    r.content_type = "text/event-stream";
    return r;
  }
  void cancel() override {}
  std::string summary() const override { return "scripted"; }

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
  bool never_ends_;
  std::function<void()> wake_;
};

std::string chunk(const json& j) { return "data: " + j.dump() + "\n\n"; }

// The request's "model" picks the behaviour: ok, nousage, http429, cut, garbage, hang.
class FakeOpenAi final : public server::HttpHandler {
 public:
  server::HandlerResult handle(const server::HttpRequest& request) override {
    json body = json::parse(request.body, nullptr, false);
    {
      std::lock_guard lock(mu);
      bodies.push_back(body);
      paths.push_back(request.path);
    }
    const std::string model = body.value("model", "");
    if (model == "http429") {
      server::HttpReply r;
      r.status = 429;
      r.body = R"({"error": {"message": "too many requests", "type": "rate_limit"}})";
      return r;
    }
    const bool chat = request.path == "/v1/chat/completions";
    auto text_chunk = [&](const std::string& text) {
      return chat ? chunk({{"choices", {{{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}}}}})
                  : chunk({{"choices", {{{"index", 0}, {"text", text}, {"finish_reason", nullptr}}}}});
    };
    std::vector<std::string> chunks;
    chunks.push_back(": comment\n\n");
    if (chat) chunks.push_back(chunk({{"choices", {{{"index", 0}, {"delta", {{"role", "assistant"}}}}}}}));
    if (model == "garbage") {
      chunks.push_back("data: this is not json\n\n");
      chunks.push_back("data: [DONE]\n\n");
      return std::make_shared<ScriptedJob>(chunks, false);
    }
    const int n = body.value("max_tokens", 4);
    for (int i = 0; i < n; ++i) chunks.push_back(text_chunk("tok" + std::to_string(i) + " "));
    if (model == "cut") return std::make_shared<ScriptedJob>(chunks, false);
    if (model == "hang") return std::make_shared<ScriptedJob>(chunks, true);
    chunks.push_back(chunk({{"choices", {{{"index", 0}, {"delta", json::object()}, {"finish_reason", "length"}}}}}));
    if (model != "nousage") {
      chunks.push_back(chunk({{"choices", json::array()},
                              {"usage", {{"prompt_tokens", 17}, {"completion_tokens", n}, {"total_tokens", 17 + n}}}}));
    }
    chunks.push_back("data: [DONE]\n\n");
    return std::make_shared<ScriptedJob>(chunks, false);
  }
  server::HttpReply reject(int status, std::string_view, const std::string& message) override {
    server::HttpReply r;
    r.status = status;
    r.body = message;
    r.close = true;
    return r;
  }
  void on_done(const server::HttpRequest&, int, std::string_view, double, bool) override {}

  std::mutex mu;
  std::vector<json> bodies;
  std::vector<std::string> paths;
};

class BenchClient : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<server::HttpServer>(io_, handler_, server::HttpServerOptions{});
    ASSERT_TRUE(server_->listen("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    io_.stop();
    thread_.join();
    server_->disable_wakeups();
  }

  HttpEndpoint endpoint() {
    auto e = parse_base_url("http://127.0.0.1:" + std::to_string(server_->port()) + "/v1/");
    EXPECT_TRUE(e.ok());
    return *e;
  }

  LoadRunResult run(const std::string& model, size_t n, int max_concurrency = 0, int warmups = 0,
                    bool chat = true) {
    LoadRunOptions o;
    o.shape.model = model;
    o.shape.chat = chat;
    o.num_requests = n;
    o.max_concurrency = max_concurrency;
    o.progress = false;
    o.client.request_timeout = std::chrono::milliseconds(model == "hang" ? 300 : 30000);
    std::vector<WorkItem> items = {{"first prompt", 5, -1}, {"second prompt", 3, -1}};
    std::vector<WorkItem> warm(warmups, WorkItem{"warm", 2, -1});
    return run_load(endpoint(), o, warm, items, nullptr);
  }

  boost::asio::io_context io_;
  FakeOpenAi handler_;
  std::unique_ptr<server::HttpServer> server_;
  std::thread thread_;
};

TEST_F(BenchClient, StreamsAreMeasured) {
  LoadRunResult r = run("ok", 9, /*max_concurrency=*/3, /*warmups=*/2);
  ASSERT_EQ(r.requests.size(), 9u);
  EXPECT_LE(r.max_in_flight, 3);
  EXPECT_GE(r.max_in_flight, 1);
  EXPECT_EQ(r.warmup_failed, 0);
  EXPECT_FALSE(r.started_at.empty());
  for (size_t i = 0; i < r.requests.size(); ++i) {
    const RequestRecord& q = r.requests[i];
    EXPECT_TRUE(q.ok()) << q.error << ": " << q.error_message;
    const int64_t n = i % 2 == 0 ? 5 : 3;
    EXPECT_EQ(q.output_tokens, n);
    EXPECT_EQ(q.input_tokens, 17);
    ASSERT_TRUE(q.ttft_s.has_value());
    EXPECT_LE(*q.ttft_s, q.e2e_s);
    EXPECT_EQ(q.itl_s.size(), (size_t)n - 1);
    EXPECT_GE(q.start_s, 0.0);
  }
  EXPECT_EQ(r.requests[0].start_s, 0.0);
  std::lock_guard lock(handler_.mu);
  ASSERT_EQ(handler_.bodies.size(), 11u);  // warm-ups included
  const json& body = handler_.bodies.back();
  EXPECT_EQ(body["stream"], true);
  EXPECT_EQ(body["stream_options"]["include_usage"], true);
  EXPECT_EQ(body["temperature"], 0);
  EXPECT_EQ(body["messages"][0]["role"], "user");
  EXPECT_EQ(handler_.paths.back(), "/v1/chat/completions");
}

TEST_F(BenchClient, CompletionsEndpointAndNoUsage) {
  LoadRunResult r = run("nousage", 2, 0, 0, /*chat=*/false);
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_TRUE(r.requests[0].ok()) << r.requests[0].error_message;
  EXPECT_EQ(r.requests[0].output_tokens, 5);  // text-carrying chunks
  EXPECT_EQ(r.requests[0].input_tokens, 0);
  std::lock_guard lock(handler_.mu);
  EXPECT_EQ(handler_.paths.back(), "/v1/completions");
  EXPECT_TRUE(handler_.bodies.back().contains("prompt"));
}

TEST_F(BenchClient, ErrorsAreClassified) {
  struct Case {
    const char* model;
    const char* error;
  };
  for (const Case& c : {Case{"http429", "http_429"}, Case{"cut", "closed_mid_stream"},
                        Case{"garbage", "bad_response"}, Case{"hang", "timeout"}}) {
    LoadRunResult r = run(c.model, 3, 2);
    ASSERT_EQ(r.requests.size(), 3u) << c.model;
    for (const RequestRecord& q : r.requests) {
      EXPECT_EQ(q.error, c.error) << c.model << ": " << q.error_message;
      EXPECT_FALSE(q.error_message.empty());
    }
    if (std::string(c.model) == "http429") {
      EXPECT_EQ(r.requests[0].error_message, "too many requests");
    }
  }
}

TEST_F(BenchClient, ConnectErrorWhenNothingListens) {
  uint16_t port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  LoadRunOptions o;
  o.shape.model = "ok";
  o.num_requests = 2;
  o.progress = false;
  auto e = parse_base_url("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(e.ok());
  LoadRunResult r = run_load(*e, o, {WorkItem{"w", 1, -1}}, {WorkItem{"p", 1, -1}}, nullptr);
  ASSERT_EQ(r.requests.size(), 2u);
  EXPECT_EQ(r.requests[0].error, "connect");
  EXPECT_EQ(r.warmup_failed, 1);
}

TEST(BenchBaseUrl, Parsing) {
  auto a = parse_base_url("http://localhost:8080/v1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "localhost");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->path_prefix, "");
  auto b = parse_base_url("http://[::1]/proxy/v1/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->path_prefix, "/proxy");
  EXPECT_FALSE(parse_base_url("https://x").ok());
  EXPECT_FALSE(parse_base_url("http://x:99999").ok());
  EXPECT_FALSE(parse_base_url("http://:80").ok());
}

TEST(BenchRequest, BodyHasTheContractFields) {
  RequestShape shape;
  shape.model = "m";
  shape.ignore_eos = true;
  shape.extra_body = {{"temperature", 0.7}, {"top_k", 5}};
  json body = json::parse(request_body(shape, WorkItem{"hi", 12, -1}));
  EXPECT_EQ(body["max_tokens"], 12);
  EXPECT_EQ(body["min_tokens"], 12);
  EXPECT_EQ(body["ignore_eos"], true);
  EXPECT_EQ(body["temperature"], 0.7);  // --extra-body has the last word
  EXPECT_EQ(body["top_k"], 5);
  EXPECT_EQ(body["messages"][0]["content"], "hi");
}

TEST(BenchRequest, ErrorMessagesFromBodies) {
  EXPECT_EQ(error_message_from_body(R"({"error": {"message": "m1"}})"), "m1");
  EXPECT_EQ(error_message_from_body(R"({"error": "m2"})"), "m2");
  EXPECT_EQ(error_message_from_body(R"({"detail": "m3"})"), "m3");
  EXPECT_EQ(error_message_from_body("plain text"), "plain text");
}

}  // namespace
}  // namespace kiln::bench
