// Ollama's routes that change the model store: POST /api/pull (progress streamed as NDJSON),
// DELETE /api/delete, POST /api/copy, POST /api/create. Each updates the registry, so a
// pulled, copied or created model is served at once and a deleted one no longer is (a
// deleted model that is running finishes its requests first).
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "server/errors.h"
#include "server/http/http_types.h"
#include "server/json_util.h"
#include "server/models/model_registry.h"
#include "store/model_store.h"

namespace kiln::server::ollama {

class StoreRoutes {
 public:
  StoreRoutes(store::ModelStore& store, ModelRegistry& models) : store_(store), models_(models) {}

  HandlerResult pull(const Json& body);
  HttpReply remove(const Json& body);
  HttpReply copy(const Json& body);
  HttpReply create(const Json& body);

 private:
  friend class PullJob;
  // Serves the store model `name` (after a pull, copy or create).
  void publish(const std::string& name);

  store::ModelStore& store_;
  ModelRegistry& models_;
  std::mutex pulls_mu_;
  std::set<std::string> pulls_;  // sources being pulled: one pull per source at a time
};

}  // namespace kiln::server::ollama
