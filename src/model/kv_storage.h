// The memory behind KV block ids on the CPU: for every layer, a pool of num_blocks blocks
// of block_size token rows for K and for V. Which sequence owns which block is bookkeeping
// done elsewhere (a single sequence's block table for now; the engine's block pool next).
// NOTE: rows are float32 for now; F16/BF16 storage comes with the paged engine.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/attention.h"
#include "model/model_config.h"

namespace kiln {

class KvStorage {
 public:
  // What one stored K or V element takes (float32 rows today).
  static constexpr int64_t kBytesPerElement = sizeof(float);
  static constexpr const char* kElementType = "F32";

  KvStorage(const ModelConfig& config, int64_t num_blocks, int64_t block_size);
  KvStorage(const KvStorage&) = delete;
  KvStorage& operator=(const KvStorage&) = delete;

  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t row_floats() const { return row_floats_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  float* k_row(int64_t layer, int32_t block_id, int64_t offset) {
    return k_.data() + index(layer, block_id, offset);
  }
  float* v_row(int64_t layer, int32_t block_id, int64_t offset) {
    return v_.data() + index(layer, block_id, offset);
  }
  cpu::KvPoolView layer_view(int64_t layer) const {
    const size_t base = index(layer, 0, 0);
    return cpu::KvPoolView{k_.data() + base, v_.data() + base, block_size_, row_floats_};
  }

  // Bytes one token's K and V take across all layers.
  static int64_t bytes_per_token(const ModelConfig& config) {
    return 2 * config.num_layers * config.num_kv_heads * config.head_dim * kBytesPerElement;
  }

 private:
  size_t index(int64_t layer, int32_t block_id, int64_t offset) const {
    return (((size_t)layer * num_blocks_ + block_id) * block_size_ + offset) * row_floats_;
  }
  int64_t num_blocks_, block_size_, row_floats_;
  std::vector<float> k_, v_;
};

}  // namespace kiln
