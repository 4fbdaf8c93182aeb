// How an MCP client reaches its server: one JSON-RPC 2.0 request answered by its response,
// or a notification that needs none. The transports (stdio_transport.h, http_transport.h)
// differ only in how messages travel; ids, the handshake and MCP's methods are client.h's.
//
// Every call is bounded: it ends by `deadline` and as soon as `cancel` (may be null) turns
// true, with an error that says which. A server that exits, answers garbage or sends
// nothing is an error, never a hang.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "util/status.h"

namespace kiln::mcp_client {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends {"jsonrpc": "2.0", "id", "method", "params"} and returns the response's `result`.
  // A JSON-RPC error response is an error "error CODE: MESSAGE".
  virtual StatusOr<Json> request(const std::string& method, const Json& params,
                                 Clock::time_point deadline, const std::atomic<bool>* cancel) = 0;
  virtual Status notify(const std::string& method, const Json& params,
                        Clock::time_point deadline) = 0;
  // False once the server is known to be gone (a stdio child exited); a new connection is
  // then needed. HTTP servers are stateless here: always true.
  virtual bool alive() const = 0;
  // After initialize: the negotiated version, which streamable HTTP repeats in a header.
  virtual void set_protocol_version(const std::string& version) { (void)version; }
};

// The response to request `id` read out of a JSON-RPC message: its result, its error as an
// error, or a message naming what is malformed. Shared by both transports.
StatusOr<Json> read_response(const Json& message);

}  // namespace kiln::mcp_client
