// Every x16 packed type (kernels/cpu/packed_weights.h) against the plain scalar
// kernels on the same GGUF rows: the integer sums are the same, so only float rounding may
// differ; and a token's row is the same bits alone or inside any batch, on any thread
// count. Skipped where the CPU lacks AVX-512 VNNI.
#include "kernels/cpu/packed_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "tensor/quants.h"

namespace kiln::cpu {
namespace {

std::vector<float> random_floats(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

struct Packed {
  std::vector<uint8_t> plain;
  std::vector<uint8_t> packed;
  std::vector<float> dequantized;
  WeightMatrix plain_matrix, packed_matrix;
};

Packed make(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  Packed p;
  const auto f = random_floats(rows * cols, seed);
  const int64_t row_bytes = dtype_row_bytes(type, cols);
  p.plain.resize(rows * row_bytes);
  p.dequantized.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    quant_ops(type)->quantize(&f[r * cols], &p.plain[r * row_bytes], cols);
    quant_ops(type)->dequantize(&p.plain[r * row_bytes], &p.dequantized[r * cols], cols);
  }
  p.packed.resize(packed_weights_bytes(type, rows, cols));
  // Two calls, to check that a range of groups lands in its own place.
  const int64_t groups = rows / kPackRows;
  pack_weight_groups(type, p.plain.data(), cols, 0, groups / 2, p.packed.data());
  pack_weight_groups(type, p.plain.data(), cols, groups / 2, groups - groups / 2, p.packed.data());
  p.plain_matrix = {type, p.plain.data(), rows, cols};
  p.packed_matrix = {type, p.plain.data(), rows, cols, p.packed.data()};
  return p;
}

class PackedWeightsTest : public testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    if (!isa_supported(Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 VNNI";
  }
};

TEST_P(PackedWeightsTest, AgreesWithThePlainScalarKernel) {
  const DType type = GetParam();
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (int64_t cols : {256, 768}) {
    for (int64_t rows : {16, 48}) {
      const Packed w = make(type, rows, cols, (uint32_t)(rows + cols));
      for (int64_t tokens : {1, 3, 4, 5, 6, 8, 13, 15}) {
        // Large, uneven activations push every integer sum towards its bound.
        const auto x = random_floats(tokens * cols, (uint32_t)tokens, 40.0f);
        std::vector<float> ref(tokens * rows), got(tokens * rows, NAN);
        matmul(w.plain_matrix, x.data(), tokens, ref.data(), pool, scratch, Isa::kScalar);
        matmul(w.packed_matrix, x.data(), tokens, got.data(), pool, scratch, Isa::kAvx512);
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double mag = 0;
            for (int64_t c = 0; c < cols; ++c)
              mag += std::fabs((double)w.dequantized[r * cols + c] * x[t * cols + c]);
            ASSERT_NEAR(got[t * rows + r], ref[t * rows + r], 1e-5 * mag + 1e-6)
                << "cols " << cols << " rows " << rows << " tokens " << tokens << " t " << t
                << " r " << r;
          }
        }
      }
    }
  }
}

TEST_P(PackedWeightsTest, TokenRowDoesNotDependOnTheBatch) {
  const DType type = GetParam();
  const int64_t rows = 80, cols = 512, max_tokens = 100;
  const Packed w = make(type, rows, cols, 3);
  const auto x = random_floats(max_tokens * cols, 4);
  ThreadPool pool1(1), pool3(3);
  MatmulScratch scratch;
  std::vector<float> alone(max_tokens * rows);
  for (int64_t t = 0; t < max_tokens; ++t)
    matmul(w.packed_matrix, &x[t * cols], 1, &alone[t * rows], pool1, scratch, Isa::kAvx512);
  for (ThreadPool* pool : {&pool1, &pool3}) {
    for (int64_t tokens : {2, 7, 100}) {
      for (int64_t first : {int64_t{0}, max_tokens - tokens}) {
        std::vector<float> y(tokens * rows);
        matmul(w.packed_matrix, &x[first * cols], tokens, y.data(), *pool, scratch, Isa::kAvx512);
        for (int64_t t = 0; t < tokens; ++t)
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(y[t * rows + r], alone[(first + t) * rows + r])
                << "threads " << pool->num_threads() << " tokens " << tokens << " token "
                << first + t << " row " << r;
      }
    }
  }
}

TEST(PackedWeights, VectorActivationQuantizerMatchesTheScalarOne) {
  if (!isa_supported(Isa::kAvx512)) GTEST_SKIP() << "CPU lacks AVX-512 VNNI";
  const int64_t n = 4 * kQK_K;
  auto x = random_floats(n, 11, 3.0f);
  // Block 1: all zero. Block 2: the largest magnitude twice, with both signs (the first
  // one sets the sign). Block 3: values on rounding ties.
  for (int64_t i = kQK_K; i < 2 * kQK_K; ++i) x[i] = 0.0f;
  x[2 * kQK_K + 5] = 50.0f;
  x[2 * kQK_K + 9] = -50.0f;
  for (int64_t i = 3 * kQK_K; i < 4 * kQK_K; ++i) x[i] = (float)((i % 9) - 4) * 0.5f;
  x[3 * kQK_K] = -127.0f;
  std::vector<uint8_t> ref(n / kQK_K * kPackedActBytes, 0xAA), got(ref.size(), 0x55);
  quantize_packed_act(x.data(), ref.data(), n);
  quantize_packed_act_avx512(x.data(), got.data(), n);
  EXPECT_EQ(ref, got);
}

TEST(PackedWeights, OnlySupportedTypesInWholeRecordsArePackable) {
  EXPECT_TRUE(weights_packable(DType::Q4_K, 32, 512));
  EXPECT_TRUE(weights_packable(DType::Q6_K, 16, 256));
  EXPECT_FALSE(weights_packable(DType::Q4_K, 24, 512));  // not whole 16-row groups
  EXPECT_TRUE(weights_packable(DType::Q5_K, 32, 512));
  EXPECT_TRUE(weights_packable(DType::Q3_K, 32, 512));
  EXPECT_TRUE(weights_packable(DType::Q2_K, 32, 512));
  EXPECT_FALSE(weights_packable(DType::F16, 32, 512));
  EXPECT_TRUE(weights_packable(DType::Q4_0, 32, 576));
  EXPECT_FALSE(weights_packable(DType::Q4_0, 32, 96));  // not whole two-block records
  EXPECT_FALSE(weights_packable(DType::Q5_1, 32, 512));
  EXPECT_EQ(packed_weights_bytes(DType::Q4_K, 32, 512), 2 * 2 * kQ4KPackedBytes);
}

INSTANTIATE_TEST_SUITE_P(Types, PackedWeightsTest,
                         testing::Values(DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K,
                                         DType::Q6_K, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                         DType::Q8_0),
                         [](const testing::TestParamInfo<DType>& info) {
                           return std::string(dtype_name(info.param));
                         });

}  // namespace
}  // namespace kiln::cpu
