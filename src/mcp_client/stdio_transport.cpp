#include "mcp_client/stdio_transport.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace kiln::mcp_client {
namespace {

constexpr size_t kMaxLineBytes = 16 << 20;

// Writing to a child that has exited raises SIGPIPE, whose default kills kiln; ignored, the
// write fails with EPIPE instead and the request reports the server gone.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] { signal(SIGPIPE, SIG_IGN); });
}

// kiln's environment with `extra` added or replacing, as "KEY=VALUE" strings.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (!extra.contains(key)) out.push_back(entry);
  }
  for (const auto& kv : extra) out.push_back(kv.first + "=" + kv.second);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

int milliseconds_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return (int)std::max<int64_t>(0, left.count());
}

}  // namespace

StatusOr<std::unique_ptr<StdioTransport>> StdioTransport::spawn(const StdioCommand& command) {
  ignore_sigpipe_once();
  int in_pipe[2], out_pipe[2];  // [0] read end, [1] write end; close-on-exec in kiln
  if (pipe2(in_pipe, O_CLOEXEC) != 0) return Status::Error(std::strerror(errno));
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    const int err = errno;
    close(in_pipe[0]), close(in_pipe[1]);
    return Status::Error(std::strerror(err));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);  // dup2 clears close-on-exec
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so the whole group can be ended; default signal handling and an
  // empty mask, whatever kiln's threads set (SIGPIPE ignored above, signals blocked for the
  // server's signal handling).
  sigset_t empty, defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings = {command.command};
  argv_strings.insert(argv_strings.end(), command.args.begin(), command.args.end());
  std::vector<std::string> env_strings = child_environment(command.env);
  std::vector<char*> argv = c_strings(argv_strings), envp = c_strings(env_strings);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, command.command.c_str(), &actions, &attr, argv.data(),
                              envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (rc != 0) {
    close(in_pipe[1]), close(out_pipe[0]);
    return Status::Error("cannot start '" + command.command + "': " + std::strerror(rc));
  }
  // Writes wait in poll() against the request's deadline, never in a blocked write().
  fcntl(in_pipe[1], F_SETFL, fcntl(in_pipe[1], F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<StdioTransport>(
      new StdioTransport(pid, in_pipe[1], out_pipe[0], command.command));
}

StdioTransport::StdioTransport(pid_t pid, int to_child, int from_child, std::string name)
    : pid_(pid), to_child_(to_child), from_child_(from_child), name_(std::move(name)) {
  reader_ = std::thread([this] { read_loop(); });
}

StdioTransport::~StdioTransport() {
  stopping_ = true;
  close(to_child_);  // a well-behaved server exits when its stdin closes
  {
    std::lock_guard lock(mu_);
    if (!reaped_) kill(-pid_, SIGTERM);
  }
  reader_.join();
  close(from_child_);
  std::lock_guard lock(mu_);
  if (!reaped_) reap(1.0);
}

bool StdioTransport::alive() const {
  std::lock_guard lock(mu_);
  return !exited_;
}

void StdioTransport::read_loop() {
  std::string buffer;
  char chunk[65536];
  while (!stopping_) {
    pollfd p{from_child_, POLLIN, 0};
    const int ready = poll(&p, 1, 100);  // wakes now and then to see stopping_
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(from_child_, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;  // EOF: the server closed stdout (exited)
    buffer.append(chunk, (size_t)n);
    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1)
      on_line(buffer.substr(start, nl - start));
    buffer.erase(0, start);
    if (buffer.size() > kMaxLineBytes) {
      spdlog::warn("mcp server '{}': a line over {} bytes, dropped", name_, kMaxLineBytes);
      buffer.clear();
    }
  }
  on_exit();
}

void StdioTransport::on_line(const std::string& line) {
  if (line.find_first_not_of(" \t\r") == std::string::npos) return;
  Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!message.is_object()) {
    spdlog::warn("mcp server '{}': a line that is not a JSON-RPC object, dropped: {:.200}",
                 name_, line);
    return;
  }
  if (message.contains("method")) {
    // A request of the server's own. kiln offers no client features (sampling, roots,
    // elicitation); ping is answered so that a server checking liveness keeps going.
    if (!message.contains("id")) return;  // a notification
    Json reply = {{"jsonrpc", "2.0"}, {"id", message["id"]}};
    if (message["method"] == "ping")
      reply["result"] = Json::object();
    else
      reply["error"] = {{"code", -32601}, {"message", "kiln's MCP client offers no such method"}};
    (void)write_line(reply.dump(), Clock::now() + std::chrono::seconds(1));
    return;
  }
  const Json& id = message.contains("id") ? message["id"] : Json();
  if (!id.is_number_integer()) return;  // not an answer to anything kiln asked
  std::lock_guard lock(mu_);
  auto it = waiting_.find(id.get<int64_t>());
  if (it == waiting_.end()) return;  // its request already timed out
  it->second = std::move(message);
  replied_.notify_all();
}

void StdioTransport::on_exit() {
  std::lock_guard lock(mu_);
  exited_ = true;
  if (!stopping_) {
    // A server that dies on its own: reaped here, at once, with how it ended.
    reap(2.0);
    spdlog::warn("mcp server '{}' {}", name_, exit_reason_);
  }
  replied_.notify_all();
}

// Under mu_. Waits up to `grace_seconds` for the child, then kills its group and waits.
void StdioTransport::reap(double grace_seconds) {
  int status = 0;
  pid_t done = 0;
  const auto give_up = Clock::now() + std::chrono::duration<double>(grace_seconds);
  while ((done = waitpid(pid_, &status, WNOHANG)) == 0 && Clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (done == 0) {
    kill(-pid_, SIGKILL);
    done = waitpid(pid_, &status, 0);
  }
  reaped_ = true;
  if (done != pid_)
    exit_reason_ = "exited";
  else if (WIFEXITED(status))
    exit_reason_ = "exited with status " + std::to_string(WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    exit_reason_ = "was killed by signal " + std::to_string(WTERMSIG(status));
  else
    exit_reason_ = "exited";
}

Status StdioTransport::write_line(const std::string& line, Clock::time_point deadline) {
  std::lock_guard lock(write_mu_);
  const std::string data = line + "\n";
  size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = write(to_child_, data.data() + written, data.size() - written);
    if (n > 0) {
      written += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return Status::Error("the server exited (its stdin is closed)");
    pollfd p{to_child_, POLLOUT, 0};
    if (poll(&p, 1, milliseconds_until(deadline)) == 0)
      return Status::Error("timed out writing to the server (it does not read its stdin)");
  }
  return Status::Ok();
}

StatusOr<Json> StdioTransport::request(const std::string& method, const Json& params,
                                       Clock::time_point deadline,
                                       const std::atomic<bool>* cancel) {
  const int64_t id = next_id_++;
  {
    std::lock_guard lock(mu_);
    if (exited_) return Status::Error("the server " + exit_reason_);
    waiting_[id] = std::nullopt;
  }
  const Json message = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
  if (Status sent = write_line(message.dump(), deadline); !sent.ok()) {
    std::lock_guard lock(mu_);
    waiting_.erase(id);
    return exited_ ? Status::Error("the server " + exit_reason_) : sent;
  }
  std::unique_lock lock(mu_);
  std::optional<Json> reply;
  bool timed_out = false, cancelled = false;
  while (true) {
    auto it = waiting_.find(id);
    if (it->second) {
      reply = std::move(it->second);
      break;
    }
    if (exited_) break;
    if ((cancelled = cancel && cancel->load())) break;
    if ((timed_out = Clock::now() >= deadline)) break;
    // Short waits: a cancel flag set elsewhere has no way to notify this condition.
    replied_.wait_for(lock, std::chrono::milliseconds(50));
  }
  waiting_.erase(id);
  const bool exited = exited_;
  const std::string reason = exit_reason_;
  lock.unlock();
  if (reply) return read_response(*reply);
  if (exited) return Status::Error("the server " + reason);
  // Tell the server to stop working on it (the spec's cancellation).
  (void)notify("notifications/cancelled",
               {{"requestId", id}, {"reason", cancelled ? "cancelled" : "timed out"}},
               Clock::now() + std::chrono::milliseconds(200));
  if (cancelled) return Status::Error("cancelled");
  return Status::Error("timed out waiting for the server's answer to " + method);
}

Status StdioTransport::notify(const std::string& method, const Json& params,
                              Clock::time_point deadline) {
  if (!alive()) return Status::Error("the server exited");
  return write_line(Json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}}.dump(),
                    deadline);
}

}  // namespace kiln::mcp_client
