// `kiln serve`'s process: the io_context and its threads, the HTTP server, the routes, and
// the shutdown sequence. Listening starts before the model loads (/health answers 503 until
// set_models), SIGHUP re-reads --api-keys-file, and SIGTERM or SIGINT drains: stop
// accepting, fail /health, let running generations finish within the drain timeout, cancel
// the rest, return.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/api.h"
#include "server/http/http_server.h"
#include "server/models/model_registry.h"
#include "util/status.h"

namespace boost::asio {
class io_context;
}

namespace kiln::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int num_io_threads = 2;
  double drain_timeout_seconds = 30;
  ApiOptions api;
  HttpServerOptions http;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  // Stops the io threads if still running. The ModelRegistry must outlive it.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, starts the io threads and catches SIGTERM/SIGINT.
  Status start();
  uint16_t port() const;
  void set_models(ModelRegistry& models, store::ModelStore& store);
  // Blocks until SIGTERM or SIGINT, then drains (a second signal cuts the drain short) and
  // stops the io threads.
  void run_until_signal();

 private:
  void on_signal(int signal_number);
  void wait_for_signals();
  void stop_io();

  ServerOptions options_;
  Api api_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<HttpServer> http_;
  struct Signals;
  std::unique_ptr<Signals> signals_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable cv_;
  int num_signals_ = 0;
};

}  // namespace kiln::server
