// The models a server can serve and the ones it has loaded. A request names a model; if it
// is loaded the request gets a lease on it at once, otherwise it waits (without holding an
// HTTP thread) while the loader thread loads it. One load at a time: concurrent requests for
// a model wait for the same load, they never load it twice.
//
// A model stays loaded while anyone holds a lease, and for its keep-alive after the last
// lease is dropped; then the loader thread unloads it. Before a load that would exceed
// --max-loaded-models or the memory budget, the least recently used idle model is unloaded;
// when every loaded model is busy, the load waits until one is idle. A request never sees a
// model unloaded under it: unloading only takes models nobody holds, under the same lock
// that hands out leases.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "server/errors.h"
#include "server/models/served_model.h"

namespace kiln::server {

struct ModelRegistryOptions {
  int max_loaded_models = 0;        // 0: no limit
  int64_t max_loaded_bytes = 0;     // 0: no limit (memory of loaded models, estimated by file size before a load)
  int64_t max_queue = 1024;         // per model, beyond its --max-num-seqs (admission)
  std::string metrics_prefix = "kiln";
};

// A request waiting for its model to load. The loader sets the outcome and calls the wake
// function (from its own thread).
class ModelWaiter {
 public:
  // Called at once if the outcome is already known.
  void set_wake(std::function<void()> wake);
  // The lease or the load's error; nullopt while the load runs.
  std::optional<std::variant<ModelLease, ApiError>> take();
  // The request is gone: a lease it would have received is not handed out.
  void cancel();

 private:
  friend class ModelRegistry;
  // False when cancelled (the outcome is dropped).
  bool deliver(std::variant<ModelLease, ApiError> outcome);

  std::mutex mu_;
  std::function<void()> wake_;
  std::optional<std::variant<ModelLease, ApiError>> outcome_;
  bool cancelled_ = false;
};

// What /api/ps and `kiln ps` show of a loaded model.
struct LoadedModelInfo {
  ModelSpec spec;
  int64_t memory_bytes = 0;
  int64_t loaded_at = 0;       // Unix seconds
  int64_t expires_at = 0;      // Unix seconds; 0: never (kept until the server stops)
  int64_t active_requests = 0;
  int32_t context_length = 0;
};

class ModelRegistry {
 public:
  ModelRegistry(std::vector<ModelSpec> specs, ModelLoader loader, ModelRegistryOptions options);
  // Unloads everything. Every lease must have been dropped.
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  using Acquired = std::variant<ModelLease, ApiError, std::shared_ptr<ModelWaiter>>;
  // A lease now (loaded), a waiter (the load is queued or running), or a 404 naming the
  // model when no spec serves `name`.
  Acquired acquire(std::string_view name);
  // Blocks until `name` is loaded (the server's start-up load); the load's error otherwise.
  Status load_blocking(std::string_view name);

  // The specs, in the order given (listings). Thread-safe copies.
  std::vector<ModelSpec> specs() const;
  std::optional<ModelSpec> find(std::string_view name) const;
  // Adds or replaces (by name) a spec, as a pull or copy does; drops one (delete). A dropped
  // model that is loaded is unloaded once idle.
  void upsert(ModelSpec spec);
  bool remove(std::string_view name);
  // The first spec: what a request without a model runs on (MCP, kiln's own routes).
  std::string default_model() const;

  std::vector<LoadedModelInfo> loaded() const;
  // Unload `name` as soon as it is idle (Ollama's keep_alive: 0). False when not loaded.
  bool unload_when_idle(std::string_view name);

  // Calls `visit` on each loaded model, outside the registry's lock. The visit does not
  // count as use: it neither refreshes a model's keep-alive nor keeps it loaded after.
  void for_each_loaded(const std::function<void(const ServedModel&)>& visit) const;

  // Every loaded model's metrics under its model_name label, and the registry's own (loads,
  // load time, loaded models).
  std::string render_metrics() const;

 private:
  struct Slot;
  struct State;
  void loader_loop();
  std::shared_ptr<Slot> find_slot(std::string_view name) const;
  ModelLease make_lease(const std::shared_ptr<Slot>& slot);

  const ModelLoader loader_;
  const ModelRegistryOptions options_;
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace kiln::server
