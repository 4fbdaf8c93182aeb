// The asynchronous HTTP/1.1 server (Boost.Beast over Asio): one io_context run by a few
// threads serves every connection, each on its own strand, so thousands of idle or streaming
// connections cost memory, not threads. It reads requests within the size limits, hands
// them to an HttpHandler, and writes plain replies or drives ResponseJobs: a job's output
// is pulled when the job signals (the engine's on_ready posts to the strand) and only while
// no write is in flight, so a slow client makes its job's outputs merge in the engine's
// stream instead of blocking anything. While a job runs, the connection keeps a read open
// to notice the client leaving, which cancels the job. With a certificate and key the same
// connection code runs over OpenSSL (Beast's ssl_stream); without, it is the plain TCP
// stream and nothing of TLS is on its path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/http/cors.h"
#include "server/http/http_types.h"
#include "util/status.h"

namespace boost::asio {
class io_context;
}

namespace kiln::server {

struct HttpServerOptions {
  size_t max_body_bytes = 16u << 20;    // larger bodies get 413
  size_t max_header_bytes = 16u << 10;  // larger request heads get 431
  // A request's head and body must arrive within this; it is also how long an idle
  // keep-alive connection is kept.
  std::chrono::seconds read_timeout{60};
  // A write not done within this (a client that stopped reading) closes the connection,
  // which cancels its request.
  std::chrono::seconds write_timeout{60};
  CorsOptions cors;  // preflights are answered here, before the handler
  // --ssl-keyfile / --ssl-certfile (PEM): both set, every connection speaks TLS.
  std::string tls_keyfile, tls_certfile;
};

class HttpServer {
 public:
  // `handler` must outlive the io_context's handlers.
  HttpServer(boost::asio::io_context& io, HttpHandler& handler, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port) and starts accepting.
  Status listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  // Thread-safe. Closes the listening socket; open connections end after their current
  // response instead of being kept alive.
  void stop_accepting();
  // Call once the io_context no longer runs: wake functions still held by engine streams
  // then do nothing, so none posts to an io_context about to be destroyed.
  void disable_wakeups();

  struct Impl;  // defined in http_server.cpp, shared with its connections

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kiln::server
