#include "kernels/cpu/vector_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "util/fp16.h"

namespace kiln::cpu {
namespace {

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

class VectorKernelsTest : public ::testing::TestWithParam<Isa> {};

TEST_P(VectorKernelsTest, MatchScalar) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not available on this CPU";
  const VectorKernels& simd = vector_kernels(isa);
  const VectorKernels& ref = *vector_kernels_scalar();
  std::mt19937 rng(7);
  for (int64_t dim : {1, 7, 16, 33, 64, 80, 128}) {
    for (int64_t rows : {1, 5, 16}) {
      const int64_t stride = dim + 3;
      auto q = random_vector(dim, rng);
      auto k = random_vector(rows * stride, rng);
      std::vector<float> a(rows), b(rows);
      simd.dot_rows(q.data(), k.data(), stride, rows, dim, 0.5f, a.data());
      ref.dot_rows(q.data(), k.data(), stride, rows, dim, 0.5f, b.data());
      for (int64_t i = 0; i < rows; ++i) EXPECT_NEAR(a[i], b[i], 1e-4f * (1 + std::fabs(b[i])));

      auto p = random_vector(rows, rng);
      auto out_a = random_vector(dim, rng);
      auto out_b = out_a;
      simd.axpy_rows(p.data(), k.data(), stride, rows, dim, out_a.data());
      ref.axpy_rows(p.data(), k.data(), stride, rows, dim, out_b.data());
      for (int64_t d = 0; d < dim; ++d)
        EXPECT_NEAR(out_a[d], out_b[d], 1e-4f * (1 + std::fabs(out_b[d])));
    }
  }
  for (int64_t n : {1, 3, 8, 16, 17, 100}) {
    auto x = random_vector(n, rng, 10.0f);
    x.push_back(-200.0f);  // far below the max: must underflow gracefully to ~0
    const float mx = *std::max_element(x.begin(), x.end());
    auto y = x;
    const float sa = simd.exp_sum(x.data(), n + 1, mx);
    const float sb = ref.exp_sum(y.data(), n + 1, mx);
    EXPECT_NEAR(sa, sb, 1e-5f * sb);
    for (int64_t i = 0; i <= n; ++i) EXPECT_NEAR(x[i], y[i], 2e-6f * (1 + y[i]));
  }
  for (int64_t n : {1, 7, 16, 37}) {
    auto gate = random_vector(n, rng, 6.0f);
    gate[0] = -120.0f;  // exp(-g) overflows in a naive formula
    if (n > 1) gate[1] = 95.0f;
    auto up = random_vector(n, rng);
    auto expect = gate;
    simd.silu_mul(gate.data(), up.data(), n);
    ref.silu_mul(expect.data(), up.data(), n);
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(gate[i], expect[i], 1e-5f * (1 + std::fabs(expect[i])));
  }
}

// convert_kv (how K/V rows are stored) gives the same bits on every ISA as util/fp16.h's
// definitions: ties to even, subnormals, overflow to infinity, infinities, NaN stays NaN.
TEST_P(VectorKernelsTest, ConvertKvMatchesScalarDefinitions) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not available on this CPU";
  const VectorKernels& simd = vector_kernels(isa);
  std::mt19937 rng(23);
  std::vector<float> x = random_vector(1000, rng, 3.0f);
  for (float f : {0.0f, -0.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65519.0f, 65520.0f,
                  -70000.0f, 6e-8f, 3e-8f, 1e-5f, 1.00390625f, 1.01171875f, 3.4e38f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    x.push_back(f);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{17}, (int64_t)x.size()}) {
    std::vector<uint16_t> f16(n + 1, 0xabcd), bf16(n + 1, 0xabcd);
    simd.convert_kv(x.data() + x.size() - n, f16.data(), n, KvDType::kF16);
    simd.convert_kv(x.data() + x.size() - n, bf16.data(), n, KvDType::kBF16);
    for (int64_t i = 0; i < n; ++i) {
      const float v = x[x.size() - n + i];
      ASSERT_EQ(f16[i], fp32_to_fp16(v)) << "f16 of " << v;
      ASSERT_EQ(bf16[i], fp32_to_bf16(v)) << "bf16 of " << v;
    }
    EXPECT_EQ(f16[n], 0xabcd) << "wrote past n";
    EXPECT_EQ(bf16[n], 0xabcd) << "wrote past n";
    std::vector<float> f32(n + 1, -7.0f);
    simd.convert_kv(x.data(), f32.data(), n, KvDType::kF32);
    EXPECT_EQ(0, std::memcmp(f32.data(), x.data(), n * sizeof(float)));
    EXPECT_EQ(f32[n], -7.0f);
  }
  uint16_t h[2];
  const float nans[2] = {nan, -nan};
  simd.convert_kv(nans, h, 2, KvDType::kF16);
  EXPECT_TRUE(std::isnan(fp16_to_fp32(h[0])) && std::isnan(fp16_to_fp32(h[1])));
  simd.convert_kv(nans, h, 2, KvDType::kBF16);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(h[0])) && std::isnan(bf16_to_fp32(h[1])));
}

INSTANTIATE_TEST_SUITE_P(Isas, VectorKernelsTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace kiln::cpu
