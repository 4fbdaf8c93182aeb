// A loaded model: runs the transformer over a batch of tokens through the kernels/
// interface and writes logits. One architecture per file (llama.cpp, qwen2.cpp, qwen3.cpp,
// gemma3.cpp) over a shared decoder (decoder.h); Model::load picks the file from
// general.architecture.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gguf/reader.h"
#include "model/kv_storage.h"
#include "model/model_config.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln {

struct ModelOptions {
  int64_t max_batch_tokens = 512;  // largest number of tokens one forward() call may take
};

// One sequence's share of a step: tokens [first_token, first_token + num_tokens) of the batch.
struct SequenceSlice {
  int32_t first_token = 0;
  int32_t num_tokens = 0;
  // The sequence's KV blocks, covering positions [0, its last position].
  std::span<const int32_t> block_table;
};

// The work of one step: any number of sequences, each decoding one token or prefilling a
// chunk. Plain data, owned by the caller.
struct ForwardBatch {
  std::span<const int32_t> token_ids;  // every sequence's new tokens, back to back
  // Per token; consecutive within a sequence, continuing its KV.
  std::span<const int32_t> positions;
  std::span<const SequenceSlice> sequences;  // in token order, together covering token_ids exactly
  // Increasing token indices whose logits forward() writes; row i of `logits` is
  // logit_rows[i].
  std::span<const int32_t> logit_rows;
};

// A one-sequence ForwardBatch that owns the arrays it points at (for Session and tests):
// tokens at positions [first_pos, first_pos + n), logits for every token or only the last.
// Reusable: assign() keeps the arrays' capacity. Not copyable (the batch points into it).
class SingleSequenceBatch {
 public:
  SingleSequenceBatch() = default;
  SingleSequenceBatch(const SingleSequenceBatch&) = delete;
  SingleSequenceBatch& operator=(const SingleSequenceBatch&) = delete;

  const ForwardBatch& assign(std::span<const int32_t> token_ids, int32_t first_pos,
                             std::span<const int32_t> block_table, bool all_logits);
  const ForwardBatch& batch() const { return batch_; }

 private:
  std::vector<int32_t> positions_, logit_rows_;
  SequenceSlice slice_;
  ForwardBatch batch_;
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
  // The compute threads the model runs on (idle between forward passes).
  ThreadPool& pool() const { return pool_; }

  // Runs the batch, writing each sequence's K/V into `kv` at its positions through its
  // block table, and writes logits ([logit_rows.size()][vocab_size]). A sequence's logits
  // are the same bits whatever else is in the batch. Errors are caller mistakes (bad ids,
  // slices, positions, block tables, too many tokens), reported before anything is written.
  [[nodiscard]] virtual Status forward(const ForwardBatch& batch, KvStorage& kv, float* logits) = 0;

 protected:
  Model(ModelConfig config, ModelOptions options, ThreadPool& pool)
      : config_(std::move(config)), options_(options), pool_(pool) {}
  Status validate(const ForwardBatch& batch, const KvStorage& kv) const;

  ModelConfig config_;
  ModelOptions options_;
  ThreadPool& pool_;
};

// The general.architecture values Model::load accepts, in a fixed order (for messages and
// for `kiln pull`'s check before a file becomes a model).
std::vector<std::string_view> supported_architectures();

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
