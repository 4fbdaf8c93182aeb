// The engine's edge to whatever runs the model (STYLE.md rule 3, DESIGN.md boundaries):
// one call per phase per step, nothing per token. The real one wraps a Model and its KV
// storage (model_backend.h); tests drive the engine with a fake that needs no weights.
#pragma once

#include <cstdint>
#include <span>

#include "engine/kv_cache_manager.h"
#include "model/model.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln {

class ExecutionBackend {
 public:
  virtual ~ExecutionBackend() = default;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t num_kv_blocks() const = 0;
  virtual int32_t kv_block_size() const = 0;
  virtual int32_t max_batch_tokens() const = 0;  // the most tokens one forward() takes
  // Copies whole blocks (every layer's K and V), in order, before the step's forward.
  virtual void copy_blocks(std::span<const BlockCopy> copies) = 0;
  // Runs the step and writes logits [batch.logit_rows.size()][vocab_size].
  [[nodiscard]] virtual Status forward(const ForwardBatch& batch, float* logits) = 0;
  // Compute threads the engine may borrow between forward passes (structured output's
  // token masks); null: none.
  virtual ThreadPool* compute_pool() { return nullptr; }
};

}  // namespace kiln
