// A model as the server knows it: what it may serve (ModelSpec), what a loader makes of it
// (LoadedModel), and a model in memory with what the routes need to run requests on it
// (ServedModel, which the routes hold through a lease while they use it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/admission.h"
#include "server/json_util.h"
#include "server/metrics.h"
#include "server/model_context.h"
#include "util/status.h"

namespace kiln::server {

// A model the server can load: a GGUF file under one or more names.
struct ModelSpec {
  std::string name;                  // the name listings show
  std::vector<std::string> aliases;  // further names requests may use (--served-model-name)
  std::string path;                  // the GGUF file
  int64_t file_bytes = 0;
  int64_t modified = 0;  // Unix seconds the file (or the store entry) last changed
  // Defaults a Modelfile gave this name (Ollama's create): {"options": {...}, "system": "...",
  // "template": "..."}; empty when there are none.
  Json defaults = Json::object();
  std::string digest;                 // "sha256:..." when known (a store entry); else empty
  Json details = Json::object();      // Ollama's details (server/models/model_details.h)
  // Seconds the model stays loaded once idle; < 0: until the server stops.
  double keep_alive_seconds = -1;

  bool serves(std::string_view requested) const;
};

// What a ModelLoader returns: the model's ModelContext and whatever keeps it alive.
struct LoadedModel {
  std::shared_ptr<void> owner;  // the engine, its tokenizer and weights; released last
  ModelContext context;
  int64_t memory_bytes = 0;  // weights and KV pool (a draft's too), as /api/ps reports them
};

// Loads a spec (on the registry's loader thread). Failures are messages a client may read.
using ModelLoader = std::function<StatusOr<LoadedModel>(const ModelSpec&)>;

using SteadyClock = std::chrono::steady_clock;

// A loaded model and what serving it needs: admission (429 beyond --max-num-seqs +
// --max-queue), and the request metrics kept for its name across loads.
struct ServedModel {
  ServedModel(ModelSpec spec, LoadedModel loaded, int64_t max_queue, ServerMetrics& metrics,
              double load_seconds)
      : spec(std::move(spec)),
        loaded(std::move(loaded)),
        admission(this->loaded.context.max_num_seqs, max_queue),
        metrics(metrics),
        load_seconds(load_seconds),
        keep_alive_seconds(this->spec.keep_alive_seconds) {}

  const ModelContext& context() const { return loaded.context; }
  Engine& engine() const { return *loaded.context.engine; }

  // Ollama's per-request keep_alive: the latest request's value decides how long the model
  // stays once idle.
  void set_keep_alive(double seconds) { keep_alive_seconds.store(seconds); }

  const ModelSpec spec;
  LoadedModel loaded;
  Admission admission;
  ServerMetrics& metrics;
  const double load_seconds;
  const int64_t loaded_at = unix_seconds();
  std::atomic<double> keep_alive_seconds;
};

// Held while a request uses the model: the registry never unloads a model someone holds.
using ModelLease = std::shared_ptr<ServedModel>;

}  // namespace kiln::server
