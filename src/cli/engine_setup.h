// The engine flags shared by `kiln run`, `kiln bench offline` and `kiln serve`, and the
// start-up that turns them into a running engine: load the model, size the KV pool from
// the memory budget, start the engine loop.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/loaded_model.h"
#include "engine/engine.h"
#include "engine/kv_sizing.h"
#include "engine/model_backend.h"
#include "model/kv_storage.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

struct EngineFlags {
  std::string kv_cache_memory;  // empty: kv_sizing's default
  KvDType kv_cache_dtype = KvDType::kF16;
  int block_size = 16;
  int max_num_seqs = 64;
  int max_num_batched_tokens = 512;
  int max_model_len = 0;  // 0: the model's trained context
  bool no_prefix_caching = false;
  bool no_jump_forward = false;
  bool no_chunked_prefill = false;
  std::string speculative_config;  // vLLM's JSON; empty: off
  std::string kv_events_config;    // vLLM's JSON (server/router/kv_events_publisher.h); empty: off
};

void add_engine_flags(CLI::App* cmd, EngineFlags& flags);
// --speculative-config's help, for `kiln run` too (which takes no other engine flag).
inline constexpr const char* kSpeculativeConfigHelp =
    "speculative decoding, as vLLM's JSON: {\"method\": \"ngram\", \"num_speculative_tokens\": 4, "
    "\"prompt_lookup_min\": 2, \"prompt_lookup_max\": 4, \"disable_by_batch_size\": 4}, or "
    "{\"method\": \"draft_model\", \"model\": \"DRAFT.gguf\", \"num_speculative_tokens\": 4}";

// A model behind the engine API. Members are destroyed in reverse order: the engine loop
// stops before the backend, tokenizer and weights it uses go away.
struct RunningEngine {
  LoadedModel loaded;
  LoadedModel draft;  // --speculative-config's draft model, when it names one
  int64_t draft_memory_bytes = 0;  // its weights and the most KV its sessions hold
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<ModelBackend> backend;
  KvBudget kv_budget;
  int64_t kv_bytes_per_token = 0;
  std::unique_ptr<Engine> engine;
};

// `log_kv` prints the pool's size. default_kv_tokens > 0 sizes an unset --kv-cache-memory
// for that many tokens instead of the serving default (a single-user `kiln run` needs only
// one context).
StatusOr<std::unique_ptr<RunningEngine>> create_engine(const std::string& model_path,
                                                       int num_threads, const EngineFlags& flags,
                                                       bool log_kv, int64_t default_kv_tokens = 0);
// create_engine, printing "kiln: <problem>" and returning null on failure.
std::unique_ptr<RunningEngine> start_engine(const std::string& model_path, int num_threads,
                                            const EngineFlags& flags, bool log_kv,
                                            int64_t default_kv_tokens = 0);

}  // namespace kiln::cli
