// What routers and SGLang-style clients ask a worker about itself, as plain JSON builders
// (the Api routes them): GET /get_load (vllm-router's power_of_two reads "load"),
// /get_server_info (kv_aware reads "block_size"), /get_model_info and /version. Loads are
// the engines' own figures as of their last step, per loaded model and summed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine_stats.h"
#include "server/json_util.h"

namespace kiln::server::router {

// One loaded model as the worker-info routes report it.
struct ModelLoad {
  std::string name;
  EngineStats stats;
  int32_t block_size = 0;
  int32_t max_model_len = 0;
  int32_t max_num_seqs = 0;
};

// {"load": running + waiting requests over every model, "num_reqs", "num_running_reqs",
//  "num_waiting_reqs", "kv_cache_usage" (used blocks / all blocks, over every model),
//  "models": [{"model", "num_running_reqs", "num_waiting_reqs", "kv_cache_usage"}...]}.
Json load_json(const std::vector<ModelLoad>& models);
// The server's settings as SGLang's /get_server_info shapes them (flat keys), from the
// default (first loaded) model, with every loaded model listed under "models".
Json server_info_json(const std::vector<ModelLoad>& models, const std::string& default_model);
// SGLang's /get_model_info for `model` (kiln serves generative models only).
Json model_info_json(const std::string& model, const std::string& path, int32_t max_model_len);
Json version_json();

}  // namespace kiln::server::router
