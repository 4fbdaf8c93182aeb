// KvStorage: element types and their names, sizes, rows written rounded to the element
// type, and copy_block (the engine's copy-on-write of a shared block) in every layer.
#include "model/kv_storage.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "util/fp16.h"

namespace kiln {
namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.num_layers = 3;
  c.num_kv_heads = 2;
  c.head_dim = 5;
  return c;
}

TEST(KvStorageTest, ParsesAndNamesElementTypes) {
  for (KvDType t : {KvDType::kF32, KvDType::kF16, KvDType::kBF16}) {
    auto parsed = parse_kv_dtype(kv_dtype_name(t));
    ASSERT_TRUE(parsed.ok()) << parsed.message();
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_STREQ(kv_dtype_name(KvDType::kBF16), "bf16");
  auto bad = parse_kv_dtype("fp8");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.message(), "unknown KV cache dtype 'fp8' (valid: f32, f16, bf16)");
}

TEST(KvStorageTest, SizesFollowTheElementType) {
  const ModelConfig c = tiny_config();
  EXPECT_EQ(KvStorage::bytes_per_token(c, KvDType::kF32), 2 * 3 * 2 * 5 * 4);
  EXPECT_EQ(KvStorage::bytes_per_token(c, KvDType::kF16), 2 * 3 * 2 * 5 * 2);
  EXPECT_EQ(KvStorage::bytes_per_token(c, KvDType::kBF16), 2 * 3 * 2 * 5 * 2);
  for (KvDType t : {KvDType::kF32, KvDType::kF16, KvDType::kBF16}) {
    const KvStorage kv(c, 7, 4, t);
    EXPECT_EQ(kv.dtype(), t);
    EXPECT_EQ((int64_t)kv.bytes(), 7 * 4 * KvStorage::bytes_per_token(c, t));
  }
  EXPECT_EQ(KvStorage(c, 1, 1).dtype(), KvDType::kF16);  // the default
}

// Reads element i of a stored row back as a float.
float element(const KvStorage& kv, const uint8_t* row, int64_t i) {
  uint16_t h;
  float f;
  if (kv.dtype() == KvDType::kF32) {
    std::memcpy(&f, row + 4 * i, 4);
    return f;
  }
  std::memcpy(&h, row + 2 * i, 2);
  return kv.dtype() == KvDType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
}

TEST(KvStorageTest, WriteRoundsAndCopyBlockCopiesEveryLayer) {
  const ModelConfig c = tiny_config();
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (KvDType t : {KvDType::kF32, KvDType::kF16, KvDType::kBF16}) {
    SCOPED_TRACE(kv_dtype_name(t));
    KvStorage kv(c, 6, 4, t);
    const int64_t n = kv.row_elements();
    // Block 2 gets distinct rows in every layer; the others stay zero.
    std::vector<float> k(c.num_layers * 4 * n), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) k[i] = normal(rng), v[i] = normal(rng);
    for (int64_t layer = 0; layer < c.num_layers; ++layer)
      for (int64_t o = 0; o < 4; ++o)
        kv.write(layer, 2, o, &k[(layer * 4 + o) * n], &v[(layer * 4 + o) * n]);
    for (int64_t i = 0; i < n; ++i) {
      const float x = k[(2 * 4 + 3) * n + i];  // layer 2, offset 3
      const float want = t == KvDType::kF32   ? x
                         : t == KvDType::kF16 ? fp16_to_fp32(fp32_to_fp16(x))
                                              : bf16_to_fp32(fp32_to_bf16(x));
      ASSERT_EQ(element(kv, kv.k_row(2, 2, 3), i), want) << i;
    }
    kv.copy_block(2, 5);
    kv.copy_block(4, 4);  // a no-op
    const size_t row_bytes = n * cpu::kv_dtype_bytes(t);
    for (int64_t layer = 0; layer < c.num_layers; ++layer) {
      for (int64_t o = 0; o < 4; ++o) {
        EXPECT_EQ(0, std::memcmp(kv.k_row(layer, 5, o), kv.k_row(layer, 2, o), row_bytes));
        EXPECT_EQ(0, std::memcmp(kv.v_row(layer, 5, o), kv.v_row(layer, 2, o), row_bytes));
        for (int32_t other : {0, 1, 3, 4})
          for (size_t b = 0; b < row_bytes; ++b)
            ASSERT_EQ(kv.k_row(layer, other, o)[b] | kv.v_row(layer, other, o)[b], 0)
                << "block " << other << " changed";
      }
    }
    // The copy is independent: overwriting the source leaves it as it was.
    const std::vector<uint8_t> before(kv.v_row(1, 5, 0), kv.v_row(1, 5, 0) + row_bytes);
    std::vector<float> zeros(n, 0.0f);
    kv.write(1, 2, 0, zeros.data(), zeros.data());
    EXPECT_EQ(0, std::memcmp(kv.v_row(1, 5, 0), before.data(), row_bytes));
    // Views see the same bytes.
    EXPECT_EQ(kv.layer_view(1).k_row(5, 2), kv.k_row(1, 5, 2));
  }
}

}  // namespace
}  // namespace kiln
