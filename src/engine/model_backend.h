// ExecutionBackend over a loaded Model and a KV storage pool on the CPU.
#pragma once

#include <cstdint>

#include "engine/execution_backend.h"
#include "model/kv_storage.h"
#include "model/model.h"

namespace kiln {

class ModelBackend final : public ExecutionBackend {
 public:
  // The model's options.max_batch_tokens bounds each step.
  ModelBackend(Model& model, int32_t num_blocks, int32_t block_size, KvDType kv_dtype);

  int64_t vocab_size() const override { return model_.config().vocab_size; }
  int32_t num_kv_blocks() const override { return (int32_t)kv_.num_blocks(); }
  int32_t kv_block_size() const override { return (int32_t)kv_.block_size(); }
  int32_t max_batch_tokens() const override { return (int32_t)model_.options().max_batch_tokens; }
  ThreadPool* compute_pool() override { return &model_.pool(); }
  void copy_blocks(std::span<const BlockCopy> copies) override;
  Status forward(const ForwardBatch& batch, float* logits) override;

  const KvStorage& kv() const { return kv_; }

 private:
  Model& model_;
  KvStorage kv_;
};

}  // namespace kiln
