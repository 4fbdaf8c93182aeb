// MCP over stdio: the server is a child process kiln spawns (command, args, extra env), in a
// process group of its own so that whatever it starts goes with it. Messages are one JSON
// object per line on its stdin and stdout; its stderr is kiln's (its log lines land in
// kiln's log).
//
// A reader thread takes replies off stdout and hands each to the request waiting for its id,
// so several requests can be in flight on one connection. Requests the server sends (ping)
// are answered; its notifications are ignored; a line that is not JSON is logged and dropped
// (the request it should have answered then times out). When stdout closes, every waiting
// request fails with "the server exited", and the child is reaped at once (SIGKILL if it
// lingers), so a crashed server leaves no zombie. The destructor ends the child: SIGTERM to
// its group, SIGKILL after a second.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "mcp_client/transport.h"

namespace kiln::mcp_client {

struct StdioCommand {
  std::string command;  // looked up in PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;  // added to (or replacing in) kiln's environment
};

class StdioTransport final : public Transport {
 public:
  // Errors: the command cannot be started (its reason).
  static StatusOr<std::unique_ptr<StdioTransport>> spawn(const StdioCommand& command);
  ~StdioTransport() override;

  StatusOr<Json> request(const std::string& method, const Json& params,
                         Clock::time_point deadline, const std::atomic<bool>* cancel) override;
  Status notify(const std::string& method, const Json& params,
                Clock::time_point deadline) override;
  bool alive() const override;
  pid_t pid() const { return pid_; }

 private:
  StdioTransport(pid_t pid, int to_child, int from_child, std::string name);
  void read_loop();
  void on_line(const std::string& line);
  void on_exit();  // stdout closed: fail the waiters, reap the child
  void reap(double grace_seconds);
  Status write_line(const std::string& line, Clock::time_point deadline);

  const pid_t pid_;
  const int to_child_;    // the child's stdin
  const int from_child_;  // the child's stdout
  const std::string name_;  // the command, for messages
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> next_id_{1};
  std::mutex write_mu_;

  mutable std::mutex mu_;
  std::condition_variable replied_;
  std::map<int64_t, std::optional<Json>> waiting_;  // id -> its response, once read
  bool exited_ = false;
  bool reaped_ = false;
  std::string exit_reason_;

  std::thread reader_;  // last: started once everything above exists
};

}  // namespace kiln::mcp_client
