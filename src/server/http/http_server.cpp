#include "server/http/http_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <mutex>
#include <optional>
#include <type_traits>

#include "server/http/request_id.h"

namespace kiln::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Bytes a pipelining client may send ahead while a response is being produced; beyond it
// the server stops reading (and so stops noticing a disconnect) until the response is done.
constexpr size_t kMaxReadAhead = 64 * 1024;
// After a response that closes the connection, unread request bytes are drained for a
// moment so the client reads the response instead of a connection reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr size_t kMaxLingerBytes = 64u << 20;
constexpr size_t kDiscardBytes = 16384;

// Wake functions reach the io_context through this, so they can be turned off before the
// io_context goes away (engine streams may outlive it by a little).
struct WakeGate {
  std::mutex mu;
  bool open = true;
};

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (char)std::tolower((unsigned char)c);
  return out;
}

// NOTE: an HTTP/1.0 client cannot read chunked encoding; its stream is the raw body, ended
// by closing the connection.
std::string stream_head(const HttpReply& head, const HeaderList& more, bool keep_alive,
                        bool chunked) {
  std::string out = "HTTP/1.1 " + std::to_string(head.status) + " " +
                    std::string(http::obsolete_reason(static_cast<http::status>(head.status))) +
                    "\r\nServer: kiln\r\nContent-Type: " + head.content_type +
                    (chunked ? "\r\nTransfer-Encoding: chunked" : "") +
                    "\r\nX-Accel-Buffering: no\r\n";
  for (const auto& [name, value] : head.headers) out += name + ": " + value + "\r\n";
  for (const auto& [name, value] : more) out += name + ": " + value + "\r\n";
  out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  return out;
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  out += size;
  out += data;
  out += "\r\n";
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(net::io_context& io, HttpHandler& handler, HttpServerOptions options)
      : io(io),
        handler(handler),
        options(options),
        acceptor(net::make_strand(io)),
        retry_timer(acceptor.get_executor()) {}

  void accept();

  net::io_context& io;
  HttpHandler& handler;
  const HttpServerOptions options;
  tcp::acceptor acceptor;  // on its own strand: stop_accepting() comes from another thread
  net::steady_timer retry_timer;
  std::atomic<bool> draining{false};
  std::shared_ptr<WakeGate> gate = std::make_shared<WakeGate>();
  std::unique_ptr<net::ssl::context> tls;  // set when serving https
};

namespace {

// kTls: the connection speaks TLS (ssl_stream over the TCP stream); the plain instantiation
// is the TCP stream alone, so plain HTTP runs exactly the code it ran before TLS existed.
template <bool kTls>
class Connection : public std::enable_shared_from_this<Connection<kTls>> {
 public:
  using Stream =
      std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Connection(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(make_stream(std::move(socket), *server)), server_(std::move(server)) {
    beast::error_code ec;
    const tcp::endpoint peer = lowest().socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
  }

  void start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls)
        self->handshake();
      else
        self->read_head();
    });
  }

 private:
  using std::enable_shared_from_this<Connection<kTls>>::shared_from_this;
  using std::enable_shared_from_this<Connection<kTls>>::weak_from_this;

  static Stream make_stream(tcp::socket socket, HttpServer::Impl& server) {
    if constexpr (kTls)
      return Stream(std::move(socket), *server.tls);
    else
      return Stream(std::move(socket));
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  // A failed handshake (plain HTTP sent to the https port, an untrusted client, a scanner)
  // is one log line and a closed socket.
  void handshake() {
    if constexpr (kTls) {
      lowest().expires_after(options().read_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) return self->on_handshake_error(ec);
                                self->read_head();
                              });
    }
  }

  void on_handshake_error(beast::error_code ec) {
    spdlog::info("{} TLS handshake failed: {}", remote_, ec.message());
    // Plain HTTP to the https port: OpenSSL saw a request line. Say so in plain HTTP (as
    // nginx does) instead of leaving the client with a reset it cannot explain.
    if (ec.category() == net::error::get_ssl_category() &&
        ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
      static const std::string kPlainHttp =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 51\r\n"
          "Connection: close\r\n\r\nThis port speaks HTTPS; send the request with TLS.\n";
      lowest().expires_after(options().write_timeout);
      return net::async_write(lowest(), net::buffer(kPlainHttp),
                              [self = shared_from_this()](beast::error_code, size_t) {
                                self->close();
                              });
    }
    close();
  }

  // What to do once the read that watches for a disconnect has been cancelled.
  enum class AfterWatch { kNothing, kReadNext, kLinger };

  const HttpServerOptions& options() const { return server_->options; }

  // --- reading a request ---------------------------------------------------------------

  void read_head() {
    if (closed_) return;
    parser_.emplace();
    parser_->header_limit((std::uint32_t)std::min<size_t>(options().max_header_bytes, UINT32_MAX));
    parser_->body_limit(options().max_body_bytes);
    lowest().expires_after(options().read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_head(ec); });
  }

  void on_head(beast::error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    const auto& msg = parser_->get();
    const auto expect = msg.find(http::field::expect);
    if (expect != msg.end() && beast::iequals(expect->value(), "100-continue")) {
      // The client waits for this before sending the body (curl does for large ones).
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         if (ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    if (closed_) return;
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (closed_) return;
    if (ec) return on_read_error(ec);
    lowest().expires_never();
    handle_request();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return reject(413, "the request body is larger than the server's limit of " +
                             std::to_string(options().max_body_bytes) + " bytes (--max-body-size)");
    if (ec == http::error::header_limit)
      return reject(431, "the request head is larger than the server's limit of " +
                             std::to_string(options().max_header_bytes) + " bytes");
    // end_of_stream: the client closed between requests; partial_message: mid-request.
    const bool parse_error =
        ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return reject(400, "malformed HTTP request: " + ec.message());
    close();
  }

  // A request refused before it could be handled; the rest of it is not read.
  void reject(int status, const std::string& message) {
    request_ = HttpRequest();
    if (parser_) {
      request_.method = std::string(parser_->get().method_string());
      request_.target = std::string(parser_->get().target());
      request_.path = request_.target.substr(0, request_.target.find('?'));
    }
    request_.remote = remote_;
    if (parser_) {
      const auto id = parser_->get().find("x-request-id");
      const std::string given = id == parser_->get().end() ? "" : std::string(id->value());
      request_.request_id = request_id_for(&given);
    } else {
      request_.request_id = request_id_for(nullptr);
    }
    started_ = SteadyClock::now();
    keep_alive_ = false;
    send_reply(server_->handler.reject(status, request_.target, message));
  }

  void handle_request() {
    http::request<http::string_body> msg = parser_->release();
    parser_.reset();
    request_ = HttpRequest();
    request_.method = std::string(msg.method_string());
    request_.target = std::string(msg.target());
    request_.path = request_.target.substr(0, request_.target.find('?'));
    for (const auto& field : msg)
      request_.headers.emplace_back(
          lowercase(std::string_view(field.name_string().data(), field.name_string().size())),
          std::string(field.value()));
    request_.body = std::move(msg.body());
    request_.remote = remote_;
    request_.request_id = request_id_for(request_.header("x-request-id"));
    keep_alive_ = msg.keep_alive();
    chunked_ = msg.version() >= 11;
    started_ = SteadyClock::now();

    // An idle connection should not keep a large request's memory.
    if (buffer_.size() == 0) buffer_.shrink_to_fit();

    if (options().cors.enabled() && is_cors_preflight(request_))
      return send_reply(cors_preflight_reply(options().cors, request_));
    HandlerResult result = server_->handler.handle(request_);
    request_.body = std::string();  // kept no longer than the handler needs it
    answer(std::move(result));
  }

  void answer(HandlerResult result) {
    if (auto* reply = std::get_if<HttpReply>(&result)) return send_reply(std::move(*reply));
    if (auto* deferred = std::get_if<std::shared_ptr<DeferredResult>>(&result))
      return start_deferred(std::move(*deferred));
    start_job(std::move(std::get<std::shared_ptr<ResponseJob>>(result)));
  }

  bool keep_alive_after(bool reply_close) const {
    return keep_alive_ && !reply_close && !server_->draining;
  }

  // --- plain replies ---------------------------------------------------------------------

  // What every reply carries from the transport itself: the request id, CORS.
  HeaderList transport_headers() const {
    HeaderList h;
    h.emplace_back("X-Request-Id", request_.request_id);
    if (options().cors.enabled()) append_cors_headers(options().cors, request_, h);
    return h;
  }

  void send_reply(HttpReply reply) {
    auto msg = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), 11);
    msg->set(http::field::server, "kiln");
    msg->set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) msg->set(name, value);
    for (const auto& [name, value] : transport_headers()) msg->set(name, value);
    const bool keep = keep_alive_after(reply.close);
    msg->keep_alive(keep);
    msg->body() = std::move(reply.body);
    msg->prepare_payload();
    status_ = reply.status;
    if (!reply.log_note.empty()) note_ = std::move(reply.log_note);
    lowest().expires_after(options().write_timeout);
    writing_ = true;
    http::async_write(stream_, *msg,
                      [self = shared_from_this(), msg, keep](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        self->after_response(ec, keep);
                      });
  }

  // --- jobs ------------------------------------------------------------------------------

  // The wake function handed to a job or a deferred result: runs on the engine's (or the
  // model loader's) thread, only posts, at most one wake outstanding. A wake for an earlier
  // job of this connection is ignored.
  std::function<void()> make_wake() {
    const uint64_t generation = ++job_generation_;
    auto gate = server_->gate;
    auto pending = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<Connection> weak = weak_from_this();
    auto executor = stream_.get_executor();
    return [gate, pending, weak, executor, generation] {
      if (pending->exchange(true)) return;
      std::lock_guard lock(gate->mu);
      if (!gate->open) return;
      net::post(executor, [pending, weak, generation] {
        pending->store(false);
        if (auto self = weak.lock()) self->on_wake(generation);
      });
    };
  }

  void start_deferred(std::shared_ptr<DeferredResult> deferred) {
    deferred_ = std::move(deferred);
    note_.clear();
    status_ = 499;  // logged if the client leaves before the answer is chosen
    deferred_->start(make_wake());
    watch();
  }

  void start_job(std::shared_ptr<ResponseJob> job) {
    job_ = std::move(job);
    job_done_ = false;
    note_.clear();
    job_->start(make_wake());
    watch();
    if (job_->streaming()) {
      const HttpReply head = job_->reply();
      status_ = head.status;
      stream_keep_alive_ = chunked_ && keep_alive_after(head.close);
      out_ = stream_head(head, transport_headers(), stream_keep_alive_, chunked_);
      write_out();
    } else {
      status_ = 499;  // nginx's "client closed request", logged if it leaves before the reply
      pump();
    }
  }

  void on_wake(uint64_t generation) {
    if (generation != job_generation_) return;
    if (!deferred_) return pump();
    if (closed_) return;
    HandlerResult result;
    if (!deferred_->resolve(result)) return;
    deferred_.reset();
    answer(std::move(result));
  }

  // Pulls what the job has ready and writes it, unless a write is already in flight (its
  // completion pulls again).
  void pump() {
    if (!job_ || job_done_ || writing_ || closed_) return;
    std::string body;
    const bool done = job_->poll(body);
    if (job_->streaming()) {
      if (body.empty() && !done) return;
      out_.clear();
      if (chunked_) {
        append_chunk(out_, body);
        if (done) out_ += "0\r\n\r\n";
      } else {
        out_ = std::move(body);
      }
      job_done_ = done;
      write_out();
    } else if (done) {
      job_done_ = true;
      HttpReply reply = job_->reply();
      note_ = job_->summary();
      reply.log_note.clear();
      send_reply(std::move(reply));
    }
  }

  void write_out() {
    writing_ = true;
    lowest().expires_after(options().write_timeout);
    net::async_write(
        stream_, net::buffer(out_),
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_stream_written(ec); });
  }

  void on_stream_written(beast::error_code ec) {
    writing_ = false;
    if (closed_) return;
    if (ec) return client_gone();
    if (job_done_) return after_response(ec, stream_keep_alive_);
    lowest().expires_never();
    pump();
  }

  // --- watching for a disconnect ---------------------------------------------------------

  // NOTE: reads through the raw socket, not the tcp_stream, so this open-ended read is not
  // subject to the stream's timeouts, which are for the writes.
  void watch() {
    if (watching_ || closed_ || buffer_.size() >= kMaxReadAhead) return;
    watching_ = true;
    auto on_read = [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->on_watch(ec, n);
    };
    if constexpr (kTls)
      stream_.async_read_some(buffer_.prepare(4096), std::move(on_read));
    else
      lowest().socket().async_read_some(buffer_.prepare(4096), std::move(on_read));
  }

  void on_watch(beast::error_code ec, size_t n) {
    watching_ = false;
    if (!ec) buffer_.commit(n);  // a pipelined request, kept for later
    if (closed_) return;
    if (after_watch_ != AfterWatch::kNothing) {
      const AfterWatch next = std::exchange(after_watch_, AfterWatch::kNothing);
      if (ec && ec != net::error::operation_aborted) return close();
      return next == AfterWatch::kReadNext ? read_head() : linger();
    }
    if (!ec) return watch();
    if (ec == net::error::operation_aborted) return;
    // NOTE: a client that has read the whole answer may close before our last write's
    // handler runs. That request finished; on_stream_written ends it (as gone only if the
    // write failed).
    if (job_done_ && writing_) return;
    client_gone();  // EOF or reset: nobody will read the answer
  }

  // --- ending a response -----------------------------------------------------------------

  void after_response(beast::error_code ec, bool keep_alive) {
    lowest().expires_never();
    if (job_ && note_.empty()) note_ = job_->summary();
    log_done(/*client_gone=*/(bool)ec);
    job_.reset();
    if (ec || closed_) return close();
    const AfterWatch next = keep_alive ? AfterWatch::kReadNext : AfterWatch::kLinger;
    if (watching_) {
      after_watch_ = next;
      beast::error_code ignored;
      lowest().socket().cancel(ignored);
      return;
    }
    next == AfterWatch::kReadNext ? read_head() : linger();
  }

  void client_gone() {
    if (deferred_) {
      deferred_->cancel();
      log_done(/*client_gone=*/true);
      deferred_.reset();
    }
    if (job_) {
      job_->cancel();
      note_ = job_->summary();
      log_done(/*client_gone=*/true);
      job_.reset();
    }
    close();
  }

  void log_done(bool gone) {
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started_).count();
    server_->handler.on_done(request_, status_, note_, seconds, gone);
    note_.clear();
  }

  // Half-closes, then reads and drops what the client still sends until it closes too (or a
  // short time passes), so it sees the response rather than a reset.
  void linger() {
    if (closed_) return;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    lowest().expires_after(kLingerTime);
    discard_ = std::make_unique<char[]>(kDiscardBytes);
    linger_read();
  }

  void linger_read() {
    // Raw bytes, discarded: for TLS too, no need to decrypt what is thrown away.
    lowest().async_read_some(net::buffer(discard_.get(), kDiscardBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->linger_bytes_ += n;
                              if (ec || self->linger_bytes_ > kMaxLingerBytes) return self->close();
                              self->linger_read();
                            });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  Stream stream_;
  std::shared_ptr<HttpServer::Impl> server_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;

  HttpRequest request_;  // the one being answered
  bool keep_alive_ = true;
  bool chunked_ = true;  // HTTP/1.1: stream bodies in chunks
  SteadyClock::time_point started_;
  int status_ = 0;
  std::string note_;  // for the access log

  std::shared_ptr<ResponseJob> job_;
  std::shared_ptr<DeferredResult> deferred_;  // an answer not chosen yet
  uint64_t job_generation_ = 0;
  bool job_done_ = false;
  bool stream_keep_alive_ = true;
  std::string out_;  // the bytes being written for a streaming job
  bool writing_ = false;
  bool watching_ = false;
  AfterWatch after_watch_ = AfterWatch::kNothing;
  bool closed_ = false;
  std::unique_ptr<char[]> discard_;  // only while lingering: idle connections stay small
  size_t linger_bytes_ = 0;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(
      net::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (!self->acceptor.is_open()) return;
        if (ec) {
          // Out of file descriptors and the like: say so, then try again shortly rather
          // than spinning.
          if (ec != net::error::operation_aborted)
            spdlog::warn("accepting a connection failed: {}", ec.message());
          self->retry_timer.expires_after(std::chrono::milliseconds(100));
          self->retry_timer.async_wait([self](beast::error_code) { self->accept(); });
          return;
        }
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);  // SSE chunks leave at once
        if (self->tls)
          std::make_shared<Connection<true>>(std::move(socket), self)->start();
        else
          std::make_shared<Connection<false>>(std::move(socket), self)->start();
        self->accept();
      });
}

HttpServer::HttpServer(net::io_context& io, HttpHandler& handler, HttpServerOptions options)
    : impl_(std::make_shared<Impl>(io, handler, options)) {}

HttpServer::~HttpServer() = default;

Status HttpServer::listen(const std::string& host, uint16_t port) {
  if (!impl_->options.tls_certfile.empty()) {
    auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
    ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                     net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1);
    beast::error_code tls_ec;
    ctx->use_certificate_chain_file(impl_->options.tls_certfile, tls_ec);
    if (tls_ec)
      return Status::Error("--ssl-certfile " + impl_->options.tls_certfile + ": " +
                           tls_ec.message());
    ctx->use_private_key_file(impl_->options.tls_keyfile, net::ssl::context::pem, tls_ec);
    if (tls_ec)
      return Status::Error("--ssl-keyfile " + impl_->options.tls_keyfile + ": " +
                           tls_ec.message());
    impl_->tls = std::move(ctx);
  }
  beast::error_code ec;
  tcp::resolver resolver(impl_->io);
  const auto results = resolver.resolve(
      host, std::to_string(port), tcp::resolver::numeric_service | tcp::resolver::passive, ec);
  if (ec || results.empty())
    return Status::Error("--host " + host + ": cannot resolve: " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::Error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                         ec.message());
  impl_->accept();
  return Status::Ok();
}

uint16_t HttpServer::port() const {
  beast::error_code ec;
  const auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void HttpServer::stop_accepting() {
  impl_->draining = true;
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->retry_timer.cancel();
  });
}

void HttpServer::disable_wakeups() {
  std::lock_guard lock(impl_->gate->mu);
  impl_->gate->open = false;
}

}  // namespace kiln::server
