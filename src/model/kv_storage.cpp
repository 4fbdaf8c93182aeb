#include "model/kv_storage.h"

#include <cstring>
#include <string>

#include "util/cpu_features.h"

namespace kiln {

namespace {
struct KvDTypeName {
  KvDType dtype;
  const char* name;
};
constexpr KvDTypeName kKvDTypeNames[] = {
    {KvDType::kF32, "f32"}, {KvDType::kF16, "f16"}, {KvDType::kBF16, "bf16"}};
}  // namespace

StatusOr<KvDType> parse_kv_dtype(std::string_view name) {
  std::string valid;
  for (const KvDTypeName& n : kKvDTypeNames) {
    if (name == n.name) return n.dtype;
    valid += (valid.empty() ? "" : ", ") + std::string(n.name);
  }
  return Status::Error("unknown KV cache dtype '" + std::string(name) + "' (valid: " + valid + ")");
}

const char* kv_dtype_name(KvDType dtype) {
  for (const KvDTypeName& n : kKvDTypeNames)
    if (n.dtype == dtype) return n.name;
  return "?";
}

KvStorage::KvStorage(const ModelConfig& config, int64_t num_blocks, int64_t block_size,
                     KvDType dtype)
    : num_layers_(config.num_layers),
      num_blocks_(num_blocks),
      block_size_(block_size),
      row_elements_(config.num_kv_heads * config.head_dim),
      dtype_(dtype),
      row_bytes_(row_elements_ * cpu::kv_dtype_bytes(dtype)),
      k_((size_t)num_layers_ * num_blocks * block_size * row_bytes_),
      v_((size_t)num_layers_ * num_blocks * block_size * row_bytes_) {}

int64_t KvStorage::bytes_per_token(const ModelConfig& config, KvDType dtype) {
  return 2 * config.num_layers * config.num_kv_heads * config.head_dim * cpu::kv_dtype_bytes(dtype);
}

void KvStorage::write(int64_t layer, int32_t block_id, int64_t offset, const float* k,
                      const float* v) {
  const size_t at = index(layer, block_id, offset);
  cpu::convert_kv_row(k, k_.data() + at, row_elements_, dtype_);
  cpu::convert_kv_row(v, v_.data() + at, row_elements_, dtype_);
}

void KvStorage::copy_block(int32_t src, int32_t dst) {
  KILN_CHECK(src >= 0 && src < num_blocks_ && dst >= 0 && dst < num_blocks_);
  if (src == dst) return;
  const size_t block_bytes = (size_t)block_size_ * row_bytes_;
  for (int64_t layer = 0; layer < num_layers_; ++layer) {
    std::memcpy(k_.data() + index(layer, dst, 0), k_.data() + index(layer, src, 0), block_bytes);
    std::memcpy(v_.data() + index(layer, dst, 0), v_.data() + index(layer, src, 0), block_bytes);
  }
}

}  // namespace kiln
