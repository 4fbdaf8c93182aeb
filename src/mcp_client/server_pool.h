// The configured MCP servers (--mcp-config) and their live connections, shared by every
// request. A server is connected on first use, not at start-up, so a slow or broken one
// costs only the requests that need it; a stdio server that exited is started again on the
// next use (its old process was reaped when it exited). The destructor ends every stdio
// server's process.
//
// Thread-safe. Connecting happens under the server's own lock, so two requests racing to
// use a fresh server start one process, not two.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "mcp_client/client.h"
#include "mcp_client/config.h"

namespace kiln::mcp_client {

class ServerPool {
 public:
  ServerPool(std::vector<McpServerConfig> servers, double timeout_seconds);

  const std::vector<McpServerConfig>& servers() const { return configs_; }
  bool has(const std::string& name) const;
  // A connected client for the server `name` (which must be configured). Errors: it cannot
  // be started or its handshake fails ("NAME: ...").
  StatusOr<std::shared_ptr<McpClient>> client(const std::string& name,
                                              const std::atomic<bool>* cancel);

 private:
  struct Slot {
    std::mutex mu;
    std::shared_ptr<McpClient> client;
  };
  const std::vector<McpServerConfig> configs_;
  const double timeout_seconds_;
  std::map<std::string, std::unique_ptr<Slot>> slots_;  // one per config, made up front
};

// Connects to a server outside the pool (a request's own `server_url`).
StatusOr<std::shared_ptr<McpClient>> connect_server(const McpServerConfig& config,
                                                    double timeout_seconds,
                                                    const std::atomic<bool>* cancel);

}  // namespace kiln::mcp_client
