#include "model/kv_storage.h"

namespace kiln {

KvStorage::KvStorage(const ModelConfig& config, int64_t num_blocks, int64_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      row_floats_(config.num_kv_heads * config.head_dim),
      k_((size_t)config.num_layers * num_blocks * block_size * row_floats_),
      v_(k_.size()) {}

}  // namespace kiln
