// The server's API keys: those given with --api-key (unlimited, sharing the name "cli") and
// those of --api-keys-file, looked up by the key a request offers. reload() re-reads the
// file (SIGHUP): a file that does not parse keeps the current keys; a key whose name
// survives the reload keeps its state (buckets, requests in flight, counters) and takes the
// new limits. Requests in flight hold their KeyState, so a key removed by a reload still
// settles their tokens. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/http_types.h"
#include "server/limits/key_file.h"
#include "server/limits/key_state.h"
#include "util/status.h"

namespace kiln::server::limits {

// Seconds on a monotonic clock; injectable for tests.
using MonotonicClock = std::function<double()>;
double steady_seconds();

class KeyRegistry {
 public:
  KeyRegistry(std::vector<std::string> cli_keys, std::string keys_file,
              MonotonicClock clock = steady_seconds);

  // Reads the keys file (if any). A bad file at start is a startup error.
  Status load();
  // Re-reads the keys file; on error the current keys stay and the error is returned.
  Status reload();

  // Keys are required at all (some --api-key or a keys file).
  bool enabled() const;
  // The key the request offers (Authorization: Bearer or x-api-key), or null when it offers
  // none of them.
  std::shared_ptr<KeyState> identify(const HttpRequest& request) const;

  // {prefix}:api_key_requests_total, ..._prompt_tokens_total, ..._generation_tokens_total,
  // ..._rejections_total{reason}, ..._requests_running; each labelled model_name, key_name.
  // `prefix`: kiln or vllm (--metrics-prefix).
  std::string render_metrics(const std::string& prefix, std::string_view model_name) const;

  double now() const { return clock_(); }

 private:
  struct Table {
    std::vector<std::pair<std::string, std::shared_ptr<KeyState>>> by_key;
    std::map<std::string, std::shared_ptr<KeyState>> by_name;
  };
  std::shared_ptr<const Table> build(const std::vector<KeyEntry>& file_entries) const;

  const std::vector<std::string> cli_keys_;
  const std::string keys_file_;
  const MonotonicClock clock_;
  mutable std::mutex mu_;
  std::shared_ptr<const Table> table_;
};

}  // namespace kiln::server::limits
