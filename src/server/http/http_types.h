// The HTTP layer's plain data, kept free of Boost so that the routes and their tests never
// see Beast: a request as received, a complete reply, and ResponseJob, the interface of an
// answer that takes time (a generation) and may stream its body.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // the target without its query string
  HeaderList headers;  // names lowercased
  std::string body;
  std::string remote;  // the peer's "address:port", for the log
  std::string request_id;  // X-Request-Id: the client's, or generated (request_id.h)

  // The value of the first header named `lower_name`, or null.
  const std::string* header(std::string_view lower_name) const;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  HeaderList headers;  // beyond Content-Type and Content-Length
  std::string body;
  bool close = false;    // close the connection after this reply
  std::string log_note;  // not sent: what the access log adds (an error's message)
};

// An answer computed asynchronously. The connection drives it on its strand:
//   start(wake) once, then poll() each time `wake` has been called, until poll() is true.
// A streaming job's head (reply() without body) goes out at once and its body in chunks as
// poll() produces them; a buffered job's reply() is sent whole once poll() returned true.
class ResponseJob {
 public:
  virtual ~ResponseJob() = default;

  virtual bool streaming() const = 0;
  // `wake` may be called from any thread, any number of times (the engine's thread calls it;
  // it only posts to the connection's strand). Called once, on the strand.
  virtual void start(std::function<void()> wake) = 0;
  // On the strand: appends the body bytes ready now (streaming jobs); true once complete.
  virtual bool poll(std::string& body) = 0;
  // Streaming: the head (status, content type, headers), valid from the start. Buffered: the
  // whole reply, valid once poll() returned true.
  virtual HttpReply reply() = 0;
  // The client went away: stop the work. Idempotent; thread-safe.
  virtual void cancel() = 0;
  // For the access log, e.g. "prompt=12 cached=0 completion=16".
  virtual std::string summary() const = 0;
};

class DeferredResult;
// What a handler answers: a reply now, a job that produces it, or a decision deferred.
using HandlerResult =
    std::variant<HttpReply, std::shared_ptr<ResponseJob>, std::shared_ptr<DeferredResult>>;

// An answer that cannot even be chosen yet: the model a request names is still loading, and
// until it has, neither the reply's status nor whether it streams is known. The connection
// calls start(wake) once, then resolve() on its strand each time `wake` has been called, until
// resolve() hands back a result, which the connection then treats as handle()'s own.
class DeferredResult {
 public:
  virtual ~DeferredResult() = default;
  // `wake` may be called from any thread, any number of times.
  virtual void start(std::function<void()> wake) = 0;
  // True, with `out` set, once the answer is known.
  virtual bool resolve(HandlerResult& out) = 0;
  // The client went away first. Idempotent; thread-safe.
  virtual void cancel() = 0;
};

// What the HTTP server calls. handle() and on_done() run on connection strands, several at
// once, so implementations must be thread-safe.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual HandlerResult handle(const HttpRequest& request) = 0;
  // The reply to a request refused before handle(): 400 malformed HTTP, 413 body too large,
  // 431 headers too large. `target` may be empty when the request line was not read.
  virtual HttpReply reject(int status, std::string_view target, const std::string& message) = 0;
  // Once per handled request: after its last byte was written, or when the client went away
  // first (client_gone). `note` is the reply's log_note, or the job's summary().
  virtual void on_done(const HttpRequest& request, int status, std::string_view note,
                       double seconds, bool client_gone) = 0;
};

}  // namespace kiln::server
