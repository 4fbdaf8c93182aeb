// The HTTP server on a loopback port with a fake handler: plain replies and keep-alive,
// chunked streaming driven by wake-ups from another thread, buffered jobs, size limits, and
// a client leaving mid-stream (the job is cancelled). Clients are raw sockets so the test
// sees the exact bytes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/http/http_server.h"

namespace kiln::server {
namespace {

class FakeJob final : public ResponseJob {
 public:
  explicit FakeJob(bool streaming) : streaming_(streaming) {}
  bool streaming() const override { return streaming_; }
  void start(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  bool poll(std::string& body) override {
    std::lock_guard lock(mu_);
    (streaming_ ? body : whole_) += pending_;
    pending_.clear();
    return finished_;
  }
  HttpReply reply() override {
    HttpReply r;
    if (streaming_) {
      r.content_type = "text/event-stream";
    } else {
      r.content_type = "text/plain";
      r.body = whole_;
    }
    return r;
  }
  void cancel() override { cancelled = true; }
  std::string summary() const override { return "fake"; }

  // From the test's thread, as the engine would.
  void push(const std::string& text, bool last) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      pending_ += text;
      finished_ |= last;
      wake = wake_;
    }
    if (wake) wake();
  }
  bool started() {
    std::lock_guard lock(mu_);
    return (bool)wake_;
  }

  std::atomic<bool> cancelled{false};

 private:
  const bool streaming_;
  std::mutex mu_;
  std::function<void()> wake_;
  std::string pending_, whole_;
  bool finished_ = false;
};

// An answer decided later (as when a model must load first): resolves, once released from
// the test's thread, to a streaming job or to a plain reply.
class FakeDeferred final : public DeferredResult {
 public:
  explicit FakeDeferred(std::shared_ptr<FakeJob> job) : job_(std::move(job)) {}
  void start(std::function<void()> wake) override {
    std::lock_guard lock(mu_);
    wake_ = std::move(wake);
  }
  bool resolve(HandlerResult& out) override {
    std::lock_guard lock(mu_);
    ++resolves;
    if (!released_) return false;
    if (job_) {
      out = job_;
    } else {
      HttpReply r;
      r.status = 404;
      r.body = "decided later";
      out = r;
    }
    return true;
  }
  void cancel() override { cancelled = true; }

  void wake(bool release) {
    std::function<void()> wake;
    {
      std::lock_guard lock(mu_);
      released_ |= release;
      wake = wake_;
    }
    if (wake) wake();
  }
  bool started() {
    std::lock_guard lock(mu_);
    return (bool)wake_;
  }

  std::atomic<bool> cancelled{false};
  int resolves = 0;

 private:
  std::shared_ptr<FakeJob> job_;
  std::mutex mu_;
  std::function<void()> wake_;
  bool released_ = false;
};

class FakeHandler final : public HttpHandler {
 public:
  HandlerResult handle(const HttpRequest& request) override {
    if (request.path == "/deferred-stream" || request.path == "/deferred-reply") {
      std::lock_guard lock(mu_);
      if (request.path == "/deferred-stream") job = std::make_shared<FakeJob>(true);
      deferred = std::make_shared<FakeDeferred>(request.path == "/deferred-stream" ? job : nullptr);
      return deferred;
    }
    if (request.path == "/stream" || request.path == "/buffered") {
      std::lock_guard lock(mu_);
      job = std::make_shared<FakeJob>(request.path == "/stream");
      return job;
    }
    HttpReply r;
    r.content_type = "text/plain";
    r.body = request.method + " " + request.target + " " + std::to_string(request.body.size());
    if (const std::string* h = request.header("x-test")) r.body += " " + *h;
    return r;
  }
  HttpReply reject(int status, std::string_view, const std::string& message) override {
    HttpReply r;
    r.status = status;
    r.body = message;
    r.close = true;
    return r;
  }
  void on_done(const HttpRequest&, int status, std::string_view, double,
               bool client_gone) override {
    std::lock_guard lock(mu_);
    done.push_back({status, client_gone});
    cv_.notify_all();
  }
  std::shared_ptr<FakeJob> wait_for_job() {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        if (job && job->started()) return job;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return nullptr;
  }
  std::shared_ptr<FakeDeferred> wait_for_deferred() {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mu_);
        if (deferred && deferred->started()) return deferred;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return nullptr;
  }
  std::pair<int, bool> wait_done(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done.size() >= n; });
    return done.size() >= n ? done[n - 1] : std::make_pair(-1, false);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<FakeJob> job;
  std::shared_ptr<FakeDeferred> deferred;
  std::vector<std::pair<int, bool>> done;
};

class ServerHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.max_body_bytes = 1000;
    options.max_header_bytes = 2000;
    server_ = std::make_unique<HttpServer>(io_, handler_, options);
    ASSERT_TRUE(server_->listen("127.0.0.1", 0).ok());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    io_.stop();
    thread_.join();
    server_->disable_wakeups();
  }

  int connect() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, (sockaddr*)&addr, sizeof addr), 0);
    return fd;
  }
  static void send_all(int fd, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += (size_t)n;
    }
  }
  // Reads until `until` appears in what was read, or the peer closes, or `wait` passes.
  static std::string read_until(int fd, const std::string& until = "",
                                std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    std::string out;
    char buf[4096];
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!until.empty() && out.find(until) != std::string::npos) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, (size_t)n);
    }
    return out;
  }

  boost::asio::io_context io_;
  FakeHandler handler_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(ServerHttp, PlainRepliesKeepTheConnectionAlive) {
  const int fd = connect();
  send_all(fd,
           "POST /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\nContent-Length: 3\r\n\r\nabc"
           "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  const std::string out = read_until(fd);
  ::close(fd);
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_NE(out.find("POST /a?x=1 3 yes"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /b 0"), std::string::npos) << out;
  EXPECT_EQ(handler_.wait_done(2).first, 200);
}

TEST_F(ServerHttp, ExpectContinueGetsAnInterimReply) {
  const int fd = connect();
  send_all(fd,
           "POST /c HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
           "Connection: close\r\n\r\n");
  EXPECT_TRUE(read_until(fd, "\r\n\r\n").starts_with("HTTP/1.1 100 Continue\r\n\r\n"));
  send_all(fd, "body");
  const std::string out = read_until(fd);
  ::close(fd);
  EXPECT_NE(out.find("POST /c 4"), std::string::npos) << out;
}

TEST_F(ServerHttp, StreamingJobWritesChunksAsItIsWoken) {
  const int fd = connect();
  send_all(fd, "GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
  auto job = handler_.wait_for_job();
  ASSERT_TRUE(job);
  std::string out = read_until(fd, "\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Type: text/event-stream"), std::string::npos) << out;
  std::thread engine([&] {  // wake-ups come from another thread
    job->push("data: 1\n\n", false);
    job->push("data: 22\n\n", true);
  });
  engine.join();
  out += read_until(fd, "0\r\n\r\n");
  EXPECT_NE(out.find("data: 1\n\n"), std::string::npos) << out;
  EXPECT_NE(out.find("data: 22\n\n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n0\r\n\r\n")) << out;
  EXPECT_EQ(handler_.wait_done(1), std::make_pair(200, false));
  // Still usable afterwards.
  send_all(fd, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(read_until(fd).find("GET /after 0"), std::string::npos);
  ::close(fd);
  EXPECT_FALSE(job->cancelled);
}

TEST_F(ServerHttp, Http10StreamIsTheRawBodyEndedByClosing) {
  const int fd = connect();
  send_all(fd, "GET /stream HTTP/1.0\r\nHost: h\r\n\r\n");
  auto job = handler_.wait_for_job();
  ASSERT_TRUE(job);
  job->push("data: 1\n\n", true);
  const std::string out = read_until(fd);  // until the server closes
  ::close(fd);
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("\r\n\r\ndata: 1\n\n")) << out;
}

TEST_F(ServerHttp, BufferedJobRepliesOnceDone) {
  const int fd = connect();
  send_all(fd, "GET /buffered HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  auto job = handler_.wait_for_job();
  ASSERT_TRUE(job);
  job->push("part one, ", false);
  job->push("part two", true);
  const std::string out = read_until(fd);
  ::close(fd);
  EXPECT_NE(out.find("Content-Length: 18"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("part one, part two")) << out;
}

TEST_F(ServerHttp, ClientLeavingMidStreamCancelsTheJob) {
  const int fd = connect();
  send_all(fd, "GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
  auto job = handler_.wait_for_job();
  ASSERT_TRUE(job);
  job->push("data: x\n\n", false);
  read_until(fd, "data: x");
  ::close(fd);
  EXPECT_EQ(handler_.wait_done(1), std::make_pair(200, true));
  EXPECT_TRUE(job->cancelled);
  job->push("late", true);  // a wake after the connection is gone is harmless
}

TEST_F(ServerHttp, DeferredAnswerBecomesAStreamOnceDecided) {
  const int fd = connect();
  send_all(fd, "GET /deferred-stream HTTP/1.1\r\nHost: h\r\n\r\n");
  auto deferred = handler_.wait_for_deferred();
  ASSERT_TRUE(deferred);
  std::thread loader([&] { deferred->wake(false); });  // not decided yet: nothing is sent
  loader.join();
  EXPECT_EQ(read_until(fd, "HTTP/1.1", std::chrono::milliseconds(300)).find("HTTP"),
            std::string::npos);
  loader = std::thread([&] { deferred->wake(true); });
  loader.join();
  auto job = handler_.wait_for_job();
  ASSERT_TRUE(job);
  std::string out = read_until(fd, "\r\n\r\n");
  EXPECT_NE(out.find("Content-Type: text/event-stream"), std::string::npos) << out;
  job->push("data: 1\n\n", true);
  out += read_until(fd, "0\r\n\r\n");
  ::close(fd);
  EXPECT_TRUE(out.ends_with("data: 1\n\n\r\n0\r\n\r\n")) << out;
  EXPECT_EQ(handler_.wait_done(1), std::make_pair(200, false));
  EXPECT_FALSE(deferred->cancelled);
}

TEST_F(ServerHttp, DeferredAnswerCanBeAPlainReply) {
  const int fd = connect();
  send_all(fd, "GET /deferred-reply HTTP/1.1\r\nHost: h\r\n\r\n");
  auto deferred = handler_.wait_for_deferred();
  ASSERT_TRUE(deferred);
  deferred->wake(true);
  std::string out = read_until(fd, "decided later");
  EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos) << out;
  // The connection stays usable.
  send_all(fd, "GET /after HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  EXPECT_NE(read_until(fd).find("GET /after 0"), std::string::npos);
  ::close(fd);
  EXPECT_EQ(handler_.wait_done(1), std::make_pair(404, false));
}

TEST_F(ServerHttp, ClientLeavingBeforeTheDecisionCancelsIt) {
  const int fd = connect();
  send_all(fd, "GET /deferred-reply HTTP/1.1\r\nHost: h\r\n\r\n");
  auto deferred = handler_.wait_for_deferred();
  ASSERT_TRUE(deferred);
  ::close(fd);
  EXPECT_EQ(handler_.wait_done(1), std::make_pair(499, true));
  EXPECT_TRUE(deferred->cancelled);
  deferred->wake(true);  // a late decision is harmless
}

TEST_F(ServerHttp, LimitsOnBodyAndHead) {
  int fd = connect();
  send_all(fd,
           "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a'));
  std::string out = read_until(fd);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;

  fd = connect();
  send_all(fd, "GET /x HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(3000, 'b') + "\r\n\r\n");
  out = read_until(fd);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out;

  fd = connect();
  send_all(fd, "NOT HTTP AT ALL\r\n\r\n");
  out = read_until(fd);
  ::close(fd);
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
}

TEST_F(ServerHttp, StopAcceptingRefusesNewConnections) {
  const uint16_t port = server_->port();
  server_->stop_accepting();
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int rc = ::connect(fd, (sockaddr*)&addr, sizeof addr);
    ::close(fd);
    if (rc != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "still accepting";
}

}  // namespace
}  // namespace kiln::server
