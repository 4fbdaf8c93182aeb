// An asynchronous HTTP/1.1 client (Boost.Beast over Asio) that POSTs a JSON body and hands
// back the response's server-sent events as they arrive, each with the steady_clock time of
// the read that completed it. Any number of requests run at once on the io_context's thread
// (one connection each, "Connection: close"); nothing blocks. It only ever connects to the
// host and port of the endpoint it was given.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/status.h"

namespace boost::asio {
class io_context;
}

namespace kiln::bench {

using SteadyTime = std::chrono::steady_clock::time_point;

// `http://host[:port][/prefix]`; a trailing '/' and a trailing "/v1" are dropped, so
// path_prefix + "/v1/..." is the route.
struct HttpEndpoint {
  std::string host;
  uint16_t port = 80;
  std::string path_prefix;  // "" or "/something", never ending in '/'
};
StatusOr<HttpEndpoint> parse_base_url(std::string_view url);

struct StreamClientOptions {
  std::chrono::milliseconds connect_timeout{10000};
  // From the call to post() to the last byte of the response.
  std::chrono::milliseconds request_timeout{300000};
  std::string api_key;  // sent as "Authorization: Bearer KEY" when not empty
};

// How a response ended. The caller judges the events themselves (a [DONE] seen or not).
struct StreamEnd {
  enum class Kind {
    kEnded,         // the stream ended (cleanly, or the connection closed after the head)
    kConnectError,  // resolving or connecting failed
    kTimeout,       // connect or request timeout
    kHttpError,     // status >= 400; `body` holds (the start of) the reply
    kBadResponse,   // not parsable as HTTP
  };
  Kind kind = Kind::kEnded;
  int http_status = 0;
  std::string message;  // what went wrong, for the report
  std::string body;     // kHttpError only, at most 64 KiB
  bool cut_mid_event = false;  // kEnded: the stream stopped inside an event or line
  SteadyTime end_time;
};

class SseStreamClient {
 public:
  // Called for each event's data, in order, on the io_context's thread.
  using OnData = std::function<void(std::string_view data, SteadyTime received)>;
  // Called exactly once per post(), last.
  using OnEnd = std::function<void(const StreamEnd& end)>;

  // `io` must outlive every request started here.
  SseStreamClient(boost::asio::io_context& io, HttpEndpoint endpoint, StreamClientOptions options);

  // Starts POST path_prefix + `path` with `json_body`; returns at once.
  void post(const std::string& path, std::string json_body, OnData on_data, OnEnd on_end);

  const HttpEndpoint& endpoint() const { return endpoint_; }

 private:
  boost::asio::io_context& io_;
  HttpEndpoint endpoint_;
  StreamClientOptions options_;
};

}  // namespace kiln::bench
