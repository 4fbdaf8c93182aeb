// A loaded model: runs the transformer over a batch of tokens through the kernels/
// interface and writes logits. One architecture per file (llama.cpp, qwen2.cpp, qwen3.cpp,
// gemma3.cpp) over a shared decoder (decoder.h); Model::load picks the file from
// general.architecture.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "gguf/reader.h"
#include "model/kv_storage.h"
#include "model/model_config.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln {

struct ModelOptions {
  int64_t max_batch_tokens = 512;  // largest number of tokens one forward() call may take
};

// The tokens of one sequence to run in a step. Plain data, owned by the caller.
struct ForwardBatch {
  std::span<const int32_t> token_ids;
  std::span<const int32_t> positions;    // absolute positions, increasing, continuing the KV
  std::span<const int32_t> block_table;  // the sequence's KV blocks covering every position
  bool all_logits = false;               // logits for every token, else only the last
};

class Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Builds the model described by `file`, which must outlive it (weights stay mapped).
  static StatusOr<std::unique_ptr<Model>> load(const gguf::File& file, ThreadPool& pool,
                                               const ModelOptions& options);

  const ModelConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }

  // Runs the batch, appending its K/V to `kv` at the batch's positions, and writes
  // logits ([1 or num_tokens][vocab_size]). Errors are caller mistakes (bad ids, too many
  // tokens), reported before anything is written.
  [[nodiscard]] virtual Status forward(const ForwardBatch& batch, KvStorage& kv, float* logits) = 0;

 protected:
  Model(ModelConfig config, ModelOptions options, ThreadPool& pool)
      : config_(std::move(config)), options_(options), pool_(pool) {}
  Status validate(const ForwardBatch& batch, const KvStorage& kv) const;

  ModelConfig config_;
  ModelOptions options_;
  ThreadPool& pool_;
};

// Per-architecture factories (one file each), chosen by general.architecture.
using ModelFactory = StatusOr<std::unique_ptr<Model>> (*)(const gguf::File& file,
                                                          ModelConfig config, ThreadPool& pool,
                                                          const ModelOptions& options);
StatusOr<std::unique_ptr<Model>> load_llama(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options);
StatusOr<std::unique_ptr<Model>> load_qwen2(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options);
StatusOr<std::unique_ptr<Model>> load_qwen3(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options);
StatusOr<std::unique_ptr<Model>> load_gemma3(const gguf::File& file, ModelConfig config,
                                             ThreadPool& pool, const ModelOptions& options);

}  // namespace kiln
