#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/vector_kernels.h"

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
      for (int64_t d = 0; d < dim; ++d) EXPECT_NEAR(out_a[d], out_b[d], 1e-4f * (1 + std::fabs(out_b[d])));
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
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(gate[i], expect[i], 1e-5f * (1 + std::fabs(expect[i])));
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, VectorKernelsTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

// Paged attention against a direct double-precision computation, with a scrambled
// block table and a query run that starts mid-sequence.
TEST(Attention, MatchesNaiveOverScrambledBlocks) {
  const int64_t heads = 4, kv_heads = 2, dim = 24, block = 4, ctx = 23, first = 17;
  const int64_t row = kv_heads * dim, num_blocks = 8;
  std::mt19937 rng(3);
  auto kpool = random_vector(num_blocks * block * row, rng);
  auto vpool = random_vector(num_blocks * block * row, rng);
  std::vector<int32_t> table = {5, 2, 7, 0, 3, 6};  // logical -> physical
  const int64_t n = ctx - first;
  auto q = random_vector(n * heads * dim, rng);
  std::vector<int32_t> positions(n);
  for (int64_t t = 0; t < n; ++t) positions[t] = (int32_t)(first + t);
  std::vector<float> out(n * heads * dim);
  AttentionArgs a;
  a.q = q.data();
  a.q_stride = heads * dim;
  a.out = out.data();
  a.out_stride = heads * dim;
  a.positions = positions.data();
  a.num_tokens = n;
  a.num_heads = heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = dim;
  a.scale = 0.3f;
  a.kv = KvPoolView{kpool.data(), vpool.data(), block, row};
  a.block_table = table.data();
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    AttentionScratch scratch;
    attention(a, pool, scratch);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t kvh = h / (heads / kv_heads);
        std::vector<double> s(positions[t] + 1);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j <= positions[t]; ++j) {
          const float* kr = a.kv.k_row(table[j / block], j % block) + kvh * dim;
          double acc = 0;
          for (int64_t d = 0; d < dim; ++d) acc += (double)q[t * heads * dim + h * dim + d] * kr[d];
          s[j] = acc * a.scale;
          mx = std::max(mx, s[j]);
        }
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < dim; ++d) {
          double acc = 0;
          for (int64_t j = 0; j <= positions[t]; ++j)
            acc += s[j] / sum * a.kv.v_row(table[j / block], j % block)[kvh * dim + d];
          EXPECT_NEAR(out[t * heads * dim + h * dim + d], acc, 1e-4);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
