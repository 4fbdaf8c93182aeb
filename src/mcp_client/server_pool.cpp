#include "mcp_client/server_pool.h"

namespace kiln::mcp_client {

StatusOr<std::shared_ptr<McpClient>> connect_server(const McpServerConfig& config,
                                                    double timeout_seconds,
                                                    const std::atomic<bool>* cancel) {
  auto transport = open_transport(config);
  if (!transport.ok()) return transport.status();
  auto client = McpClient::connect(std::move(*transport), timeout_seconds, cancel);
  if (!client.ok()) return client.status();
  return std::shared_ptr<McpClient>(std::move(*client));
}

ServerPool::ServerPool(std::vector<McpServerConfig> servers, double timeout_seconds)
    : configs_(std::move(servers)), timeout_seconds_(timeout_seconds) {
  for (const McpServerConfig& c : configs_) slots_[c.name] = std::make_unique<Slot>();
}

bool ServerPool::has(const std::string& name) const { return slots_.contains(name); }

StatusOr<std::shared_ptr<McpClient>> ServerPool::client(const std::string& name,
                                                        const std::atomic<bool>* cancel) {
  auto slot = slots_.find(name);
  if (slot == slots_.end()) return Status::Error(name + ": no such MCP server is configured");
  std::lock_guard lock(slot->second->mu);
  std::shared_ptr<McpClient>& client = slot->second->client;
  if (client && client->alive()) return client;
  client.reset();  // a dead server's process was reaped; its client goes once unused
  for (const McpServerConfig& c : configs_) {
    if (c.name != name) continue;
    auto connected = connect_server(c, timeout_seconds_, cancel);
    if (!connected.ok()) return connected.status();
    client = std::move(*connected);
  }
  return client;
}

}  // namespace kiln::mcp_client
