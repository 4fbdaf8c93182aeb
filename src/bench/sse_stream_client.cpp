#include "bench/sse_stream_client.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <limits>

#include "bench/sse_parser.h"

namespace kiln::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kReadChunk = 16 * 1024;

// One request on its own connection; kept alive by the handlers that capture it.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(net::io_context& io, const HttpEndpoint& endpoint, const StreamClientOptions& options,
       SseStreamClient::OnData on_data, SseStreamClient::OnEnd on_end)
      : resolver_(io),
        stream_(io),
        sse_([this](std::string_view, std::string_view data) { on_data_(data, read_time_); }),
        endpoint_(endpoint),
        connect_timeout_(options.connect_timeout),
        deadline_(SteadyClock::now() + options.request_timeout),
        on_data_(std::move(on_data)),
        on_end_(std::move(on_end)) {
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
  }

  void start(http::request<http::string_body> request) {
    request_ = std::move(request);
    stream_.expires_at(std::min(deadline_, SteadyClock::now() + connect_timeout_));
    boost::system::error_code ec;
    const auto address = net::ip::make_address(endpoint_.host, ec);
    if (!ec) {
      stream_.async_connect(tcp::endpoint(address, endpoint_.port),
                            [self = shared_from_this()](beast::error_code e) { self->on_connect(e); });
      return;
    }
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = shared_from_this()](beast::error_code e, tcp::resolver::results_type results) {
          if (e) return self->finish(StreamEnd::Kind::kConnectError, "resolve " + self->endpoint_.host + ": " + e.message());
          self->stream_.async_connect(
              results, [self](beast::error_code e2, const tcp::endpoint&) { self->on_connect(e2); });
        });
  }

 private:
  std::string target() const { return endpoint_.host + ":" + std::to_string(endpoint_.port); }

  void on_connect(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(StreamEnd::Kind::kTimeout, "connect to " + target() + " timed out");
    if (ec) return finish(StreamEnd::Kind::kConnectError, "connect to " + target() + ": " + ec.message());
    stream_.expires_at(deadline_);
    http::async_write(stream_, request_,
                      [self = shared_from_this()](beast::error_code e, size_t) { self->on_write(e); });
  }

  void on_write(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(StreamEnd::Kind::kTimeout, "request timed out");
    if (ec) return finish(StreamEnd::Kind::kConnectError, "send: " + ec.message());
    http::async_read_header(
        stream_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code e, size_t) { self->on_header(e); });
  }

  void on_header(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(StreamEnd::Kind::kTimeout, "request timed out");
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return finish(StreamEnd::Kind::kEnded, "connection closed before the response");
    }
    if (ec) return finish(StreamEnd::Kind::kBadResponse, "bad HTTP response: " + ec.message());
    status_ = (int)parser_.get().result_int();
    read_body();
  }

  void read_body() {
    if (parser_.is_done()) return end_of_body({});
    parser_.get().body().data = chunk_;
    parser_.get().body().size = kReadChunk;
    http::async_read_some(stream_, buffer_, parser_,
                          [self = shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    read_time_ = SteadyClock::now();
    const size_t n = kReadChunk - parser_.get().body().size;
    if (n > 0) {
      const std::string_view bytes(chunk_, n);
      if (status_ >= 400) {
        error_body_.append(bytes.substr(0, kMaxErrorBody - std::min(kMaxErrorBody, error_body_.size())));
      } else {
        sse_.feed(bytes);
      }
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec || parser_.is_done()) return end_of_body(ec);
    read_body();
  }

  void end_of_body(beast::error_code ec) {
    if (ec == beast::error::timeout) return finish(StreamEnd::Kind::kTimeout, "request timed out");
    if (status_ >= 400) return finish(StreamEnd::Kind::kHttpError, "HTTP " + std::to_string(status_));
    // A connection that breaks mid-body ends the stream too: the caller sees no [DONE].
    finish(StreamEnd::Kind::kEnded, ec ? ec.message() : std::string());
  }

  void finish(StreamEnd::Kind kind, std::string message) {
    if (finished_) return;
    finished_ = true;
    StreamEnd end;
    end.kind = kind;
    end.http_status = status_;
    end.message = std::move(message);
    end.body = std::move(error_body_);
    end.cut_mid_event = sse_.has_partial_event();
    end.end_time = SteadyClock::now();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    on_end_(end);
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response_parser<http::buffer_body> parser_;
  char chunk_[kReadChunk];
  SseParser sse_;
  HttpEndpoint endpoint_;
  std::chrono::milliseconds connect_timeout_;
  SteadyTime deadline_;
  SseStreamClient::OnData on_data_;
  SseStreamClient::OnEnd on_end_;
  SteadyTime read_time_;
  std::string error_body_;
  int status_ = 0;
  bool finished_ = false;
};

}  // namespace

StatusOr<HttpEndpoint> parse_base_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return Status::Error("--base-url: '" + std::string(url) +
                         "' must start with http:// (https is not supported)");
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  HttpEndpoint e;
  std::string_view port_text;
  if (authority.starts_with('[')) {  // [IPv6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::Error("--base-url: unclosed '[' in host");
    e.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::Error("--base-url: bad text after the host");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (e.host.empty()) return Status::Error("--base-url: no host in '" + std::string(url) + "'");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, err] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (err != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return Status::Error("--base-url: bad port '" + std::string(port_text) + "'");
    }
    e.port = (uint16_t)port;
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.ends_with("/v1")) path.resize(path.size() - 3);
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.path_prefix = path;
  return e;
}

SseStreamClient::SseStreamClient(net::io_context& io, HttpEndpoint endpoint,
                                 StreamClientOptions options)
    : io_(io), endpoint_(std::move(endpoint)), options_(std::move(options)) {}

void SseStreamClient::post(const std::string& path, std::string json_body, OnData on_data,
                           OnEnd on_end) {
  http::request<http::string_body> request{http::verb::post, endpoint_.path_prefix + path, 11};
  const bool ipv6 = endpoint_.host.find(':') != std::string::npos;
  request.set(http::field::host, (ipv6 ? "[" + endpoint_.host + "]" : endpoint_.host) + ":" +
                                     std::to_string(endpoint_.port));
  request.set(http::field::user_agent, "kiln-bench");
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "text/event-stream");
  request.set(http::field::connection, "close");
  if (!options_.api_key.empty()) request.set(http::field::authorization, "Bearer " + options_.api_key);
  request.body() = std::move(json_body);
  request.prepare_payload();
  auto call = std::make_shared<Call>(io_, endpoint_, options_, std::move(on_data), std::move(on_end));
  call->start(std::move(request));
}

}  // namespace kiln::bench
