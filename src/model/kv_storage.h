// The memory behind KV block ids on the CPU: for every layer, a pool of num_blocks blocks
// of block_size token rows for K and for V, stored as F32, F16 or BF16. Which sequence owns
// which block is bookkeeping done elsewhere (Session's own table, the engine's block pool).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/cpu/attention.h"
#include "model/model_config.h"
#include "util/page_buffer.h"
#include "util/status.h"

namespace kiln {

using KvDType = cpu::KvDType;

// "f32", "f16", "bf16" (the --kv-cache-dtype values); an error names the valid ones.
StatusOr<KvDType> parse_kv_dtype(std::string_view name);
const char* kv_dtype_name(KvDType dtype);  // "f32", "f16", "bf16"

class KvStorage {
 public:
  KvStorage(const ModelConfig& config, int64_t num_blocks, int64_t block_size,
            KvDType dtype = KvDType::kF16);
  KvStorage(const KvStorage&) = delete;
  KvStorage& operator=(const KvStorage&) = delete;

  int64_t num_layers() const { return num_layers_; }
  int64_t num_blocks() const { return num_blocks_; }
  int64_t block_size() const { return block_size_; }
  int64_t row_elements() const { return row_elements_; }  // num_kv_heads * head_dim
  KvDType dtype() const { return dtype_; }
  size_t bytes() const { return k_.size() + v_.size(); }

  // Bytes one token's K and V take across all layers.
  static int64_t bytes_per_token(const ModelConfig& config, KvDType dtype);

  // Stores one token's K and V rows (row_elements() floats each), rounded to dtype().
  void write(int64_t layer, int32_t block_id, int64_t offset, const float* k, const float* v);
  // Copies block src's K and V rows into block dst, in every layer (copy-on-write of a
  // shared block). src == dst is a no-op.
  void copy_block(int32_t src, int32_t dst);

  // The stored row (row_elements() elements of dtype()).
  const uint8_t* k_row(int64_t layer, int32_t block_id, int64_t offset) const {
    return k_.data() + index(layer, block_id, offset);
  }
  const uint8_t* v_row(int64_t layer, int32_t block_id, int64_t offset) const {
    return v_.data() + index(layer, block_id, offset);
  }
  cpu::KvPoolView layer_view(int64_t layer) const {
    const size_t base = index(layer, 0, 0);
    return cpu::KvPoolView{k_.data() + base, v_.data() + base, block_size_, row_elements_, dtype_};
  }

 private:
  // Byte offset of a row.
  size_t index(int64_t layer, int32_t block_id, int64_t offset) const {
    return (((size_t)layer * num_blocks_ + block_id) * block_size_ + offset) * row_bytes_;
  }
  int64_t num_layers_, num_blocks_, block_size_, row_elements_;
  KvDType dtype_;
  int64_t row_bytes_;
  PageBuffer k_, v_;  // untouched pages cost no memory until a block is first written
};

}  // namespace kiln
