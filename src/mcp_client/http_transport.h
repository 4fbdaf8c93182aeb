// MCP's streamable HTTP transport, client side: every message is a POST of one JSON-RPC
// object to the server's URL with `Accept: application/json, text/event-stream`. The server
// answers a request with its response as a JSON body, or with an SSE stream that carries it
// (perhaps after notifications, which are skipped); the transfer ends as soon as the
// response has arrived. A notification is answered 202. The `Mcp-Session-Id` the server
// gives at initialize is sent back on every later message, with `MCP-Protocol-Version`.
// Custom headers (an Authorization token) go on every message.
//
// Each request is its own libcurl transfer, bounded by its deadline and stopped within a
// tenth of a second when its cancel flag turns true. Server-initiated streams (GET) are not
// opened: kiln's client needs nothing the server would send unasked.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string_view>

#include "mcp_client/transport.h"

namespace kiln::mcp_client {

class HttpTransport final : public Transport {
 public:
  HttpTransport(std::string url, std::map<std::string, std::string> headers);
  // Ends the session (DELETE with its id) when the server gave one; best effort, 1 second.
  ~HttpTransport() override;

  StatusOr<Json> request(const std::string& method, const Json& params,
                         Clock::time_point deadline, const std::atomic<bool>* cancel) override;
  Status notify(const std::string& method, const Json& params,
                Clock::time_point deadline) override;
  bool alive() const override { return true; }
  void set_protocol_version(const std::string& version) override;

 private:
  struct Reply;
  StatusOr<Reply> post(const Json& message, int64_t id, Clock::time_point deadline,
                       const std::atomic<bool>* cancel);

  const std::string url_;
  const std::map<std::string, std::string> headers_;
  std::atomic<int64_t> next_id_{1};
  std::mutex mu_;  // guards the two below
  std::string session_id_;
  std::string protocol_version_;
};

// Reads SSE bytes as they arrive and finds the JSON-RPC response with one id in its events.
// Separate from the transfer so it can be tested on byte streams split anywhere.
class SseResponseReader {
 public:
  explicit SseResponseReader(int64_t id) : id_(id) {}
  void feed(std::string_view bytes);
  // The response, once an event carried it.
  const std::optional<Json>& response() const { return response_; }

 private:
  void on_event(const std::string& data);
  const int64_t id_;
  std::string buffer_;  // an event's bytes not yet complete
  std::string data_;    // the data lines of the event being read
  std::optional<Json> response_;
};

}  // namespace kiln::mcp_client
