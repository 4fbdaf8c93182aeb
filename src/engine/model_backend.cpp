#include "engine/model_backend.h"

namespace kiln {

ModelBackend::ModelBackend(Model& model, int32_t num_blocks, int32_t block_size, KvDType kv_dtype)
    : model_(model), kv_(model.config(), num_blocks, block_size, kv_dtype) {}

void ModelBackend::copy_blocks(std::span<const BlockCopy> copies) {
  for (const BlockCopy& c : copies) kv_.copy_block(c.src, c.dst);
}

Status ModelBackend::forward(const ForwardBatch& batch, float* logits) {
  return model_.forward(batch, kv_, logits);
}

}  // namespace kiln
