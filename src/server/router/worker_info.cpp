#include "server/router/worker_info.h"

#include "util/version.h"

namespace kiln::server::router {
namespace {

double usage(int64_t used, int64_t total) { return total > 0 ? (double)used / total : 0.0; }

}  // namespace

Json load_json(const std::vector<ModelLoad>& models) {
  int64_t running = 0, waiting = 0, used = 0, total = 0;
  Json per_model = Json::array();
  for (const ModelLoad& m : models) {
    running += m.stats.num_running;
    waiting += m.stats.num_waiting;
    used += m.stats.kv_blocks_used;
    total += m.stats.kv_blocks_total;
    per_model.push_back({{"model", m.name},
                         {"num_running_reqs", m.stats.num_running},
                         {"num_waiting_reqs", m.stats.num_waiting},
                         {"kv_cache_usage", usage(m.stats.kv_blocks_used, m.stats.kv_blocks_total)}});
  }
  return Json{{"load", running + waiting},
              {"num_reqs", running + waiting},
              {"num_running_reqs", running},
              {"num_waiting_reqs", waiting},
              {"kv_cache_usage", usage(used, total)},
              {"models", std::move(per_model)}};
}

Json server_info_json(const std::vector<ModelLoad>& models, const std::string& default_model) {
  Json info = {{"version", kKilnVersion}, {"served_model_name", default_model}};
  Json listed = Json::array();
  for (const ModelLoad& m : models) {
    listed.push_back({{"model", m.name},
                      {"block_size", m.block_size},
                      {"max_model_len", m.max_model_len},
                      {"max_num_seqs", m.max_num_seqs},
                      {"num_kv_blocks", m.stats.kv_blocks_total}});
  }
  // The flat keys describe the default model when it is loaded, else the first loaded one.
  const ModelLoad* main = models.empty() ? nullptr : &models.front();
  for (const ModelLoad& m : models)
    if (m.name == default_model) main = &m;
  if (main) {
    info["block_size"] = main->block_size;
    info["page_size"] = main->block_size;  // SGLang's name for it
    info["max_model_len"] = main->max_model_len;
    info["context_length"] = main->max_model_len;
    info["max_num_seqs"] = main->max_num_seqs;
    info["max_running_requests"] = main->max_num_seqs;
  }
  info["models"] = std::move(listed);
  return info;
}

Json model_info_json(const std::string& model, const std::string& path, int32_t max_model_len) {
  return Json{{"model_path", path},
              {"tokenizer_path", path},
              {"served_model_name", model},
              {"is_generation", true},
              {"max_model_len", max_model_len},
              {"preferred_sampling_params", nullptr}};
}

Json version_json() { return Json{{"version", std::string(kKilnVersion)}}; }

}  // namespace kiln::server::router
