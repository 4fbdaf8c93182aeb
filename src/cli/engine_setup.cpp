#include "cli/engine_setup.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/speculative_config.h"
#include "engine/draft_model_proposer.h"
#include "store/resolver.h"
#include "server/router/kv_events_publisher.h"

namespace kiln::cli {

void add_engine_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--kv-cache-memory", f.kv_cache_memory,
                  "KV cache size, e.g. 2GiB (default: a quarter of available memory, at most "
                  "4 GiB, at least one full context)");
  add_kv_cache_dtype_option(cmd, f.kv_cache_dtype);
  cmd->add_option("--block-size", f.block_size, "tokens per KV cache block")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--max-num-seqs", f.max_num_seqs, "sequences running at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
                  "tokens computed per engine step (prompt chunks plus decodes)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--max-model-len", f.max_model_len,
                  "longest sequence, prompt plus output (default and limit: the model's context)")
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_flag("--no-prefix-caching", f.no_prefix_caching,
                "do not reuse the KV of prompt prefixes across requests");
  cmd->add_flag("--no-chunked-prefill", f.no_chunked_prefill,
                "compute each prompt in one step instead of in chunks");
  cmd->add_option("--speculative-config", f.speculative_config, kSpeculativeConfigHelp);
  cmd->add_option("--kv-events-config", f.kv_events_config,
                  "publish prefix-cache events for KV-aware routers, as vLLM's JSON: "
                  "{\"enable_kv_cache_events\": true, \"publisher\": \"zmq\", "
                  "\"endpoint\": \"tcp://*:5557\"} (\"topic\" defaults to \"\", which "
                  "vllm-router needs)");
  cmd->add_flag("--no-jump-forward", f.no_jump_forward,
                "structured output: run a forward pass even for tokens the grammar forces");
}

namespace {

// The draft model of --speculative-config (a file or a store name), refused unless its
// vocabulary is the target's token for token: its guesses are token ids of the target.
StatusOr<LoadedModel> open_draft_model(const std::string& arg, int num_threads,
                                       const Tokenizer& target) {
  store::ModelStore models(store::ModelStore::default_root());
  auto resolved = store::resolve_model(arg, models);
  if (!resolved.ok()) return Status::Error("--speculative-config: model: " + resolved.message());
  auto loaded = open_model(resolved->gguf_path, num_threads);
  if (!loaded.ok()) return Status::Error("--speculative-config: model: " + loaded.message());
  auto tokenizer = Tokenizer::from_gguf(*loaded->file);
  if (!tokenizer.ok())
    return Status::Error("--speculative-config: model: " + resolved->gguf_path + ": " +
                         tokenizer.message());
  const std::string refused = "--speculative-config: model: " + resolved->gguf_path +
                              " has another vocabulary than the target model";
  if (tokenizer->vocab_size() != target.vocab_size())
    return Status::Error(refused + " (" + std::to_string(tokenizer->vocab_size()) + " tokens, not " +
                         std::to_string(target.vocab_size()) + ")");
  for (int32_t id = 0; id < target.vocab_size(); ++id)
    if (tokenizer->token_text(id) != target.token_text(id))
      return Status::Error(refused + " (token " + std::to_string(id) + " differs)");
  return loaded;
}

}  // namespace

StatusOr<std::unique_ptr<RunningEngine>> create_engine(const std::string& model_path,
                                                       int num_threads, const EngineFlags& f,
                                                       bool log_kv, int64_t default_kv_tokens) {
  auto speculative = parse_speculative_config(f.speculative_config);
  if (!speculative.ok()) return speculative.status();
  auto kv_events = server::router::parse_kv_events_config(f.kv_events_config);
  if (!kv_events.ok()) return kv_events.status();
  auto kv_event_sink = server::router::make_kv_event_sink(*kv_events);
  if (!kv_event_sink.ok()) return kv_event_sink.status();
  auto r = std::make_unique<RunningEngine>();
  auto loaded = open_model(model_path, num_threads, f.max_num_batched_tokens);
  if (!loaded.ok()) return loaded.status();
  r->loaded = std::move(loaded).value();
  auto tokenizer = Tokenizer::from_gguf(*r->loaded.file);
  if (!tokenizer.ok()) return Status::Error(model_path + ": " + tokenizer.message());
  r->tokenizer = std::make_unique<Tokenizer>(std::move(*tokenizer));

  const ModelConfig& config = r->loaded.model->config();
  int64_t max_model_len = config.context_length > 0 ? config.context_length : 4096;
  // Never past what the model was trained for.
  if (f.max_model_len > 0)
    max_model_len = config.context_length > 0 ? std::min<int64_t>(f.max_model_len, config.context_length)
                                              : f.max_model_len;
  r->kv_bytes_per_token = KvStorage::bytes_per_token(config, f.kv_cache_dtype);
  int64_t requested = 0;
  if (!f.kv_cache_memory.empty()) {
    auto bytes = parse_byte_size(f.kv_cache_memory);
    if (!bytes.ok()) return Status::Error("--kv-cache-memory: " + bytes.message());
    requested = *bytes;
  } else if (default_kv_tokens > 0) {
    requested = std::max(default_kv_tokens, max_model_len) * r->kv_bytes_per_token;
  }
  auto budget = plan_kv_budget(requested, r->kv_bytes_per_token, f.block_size, max_model_len,
                               available_memory_bytes());
  if (!budget.ok()) return budget.status();
  r->kv_budget = *budget;
  // Through the logger, so `kiln serve --log-format json` keeps every line JSON.
  if (log_kv)
    spdlog::info(
        "KV cache {} ({}): {} blocks of {} tokens, {} tokens in all, {} bytes per token; max "
        "model length {}",
        format_bytes(budget->bytes), kv_dtype_name(f.kv_cache_dtype), budget->num_blocks,
        f.block_size, (long long)budget->num_tokens, (long long)r->kv_bytes_per_token,
        (long long)max_model_len);
  r->backend = std::make_unique<ModelBackend>(*r->loaded.model, budget->num_blocks, f.block_size,
                                              f.kv_cache_dtype);
  std::shared_ptr<TokenProposer> draft_proposer;
  if (speculative->method == SpeculativeConfig::Method::kDraft) {
    auto draft = open_draft_model(speculative->draft_model, num_threads, *r->tokenizer);
    if (!draft.ok()) return draft.status();
    r->draft = std::move(draft).value();
    // Slots for every sequence that may speculate at once (fewer than
    // disable_by_batch_size run then), and one more so a newcomer does not evict them.
    auto proposer = std::make_shared<DraftModelProposer>(*r->draft.model, max_model_len,
                                                         speculative->disable_by_batch_size);
    r->draft_memory_bytes = (int64_t)r->draft.file->total_size() + proposer->max_kv_bytes();
    draft_proposer = std::move(proposer);
  }
  EngineConfig ec;
  ec.scheduler.max_num_seqs = f.max_num_seqs;
  ec.scheduler.max_num_batched_tokens = f.max_num_batched_tokens;
  ec.scheduler.chunked_prefill = !f.no_chunked_prefill;
  ec.prefix_caching = !f.no_prefix_caching;
  ec.grammar_jump_forward = !f.no_jump_forward;
  ec.speculative = *speculative;
  ec.draft_proposer = std::move(draft_proposer);
  ec.kv_event_sink = *kv_event_sink;
  ec.max_model_len = (int32_t)max_model_len;
  r->engine = std::make_unique<Engine>(*r->backend, r->tokenizer.get(), ec);
  return r;
}

std::unique_ptr<RunningEngine> start_engine(const std::string& model_path, int num_threads,
                                            const EngineFlags& flags, bool log_kv,
                                            int64_t default_kv_tokens) {
  auto engine = create_engine(model_path, num_threads, flags, log_kv, default_kv_tokens);
  if (!engine.ok()) {
    print_error(engine.message());
    return nullptr;
  }
  return std::move(engine).value();
}

}  // namespace kiln::cli
