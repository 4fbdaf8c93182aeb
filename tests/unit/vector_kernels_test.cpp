#include "kernels/cpu/vector_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"

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

// Direct double-precision causal attention over the block table (within a.window if set).
std::vector<double> naive_attention(const AttentionArgs& a) {
  const int64_t heads = a.num_heads, dim = a.head_dim, group = heads / a.num_kv_heads;
  const int64_t bs = a.kv.block_size;
  std::vector<double> out(a.num_tokens * heads * dim);
  for (int64_t t = 0; t < a.num_tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t kvh = h / group, keys = (int64_t)a.positions[t] + 1;
      const int64_t first = a.window > 0 ? std::max<int64_t>(0, keys - a.window) : 0;
      const float* q = a.q + t * a.q_stride + h * dim;
      std::vector<double> s(keys, 0.0);
      double mx = -1e300, sum = 0;
      for (int64_t j = first; j < keys; ++j) {
        const float* kr = a.kv.k_row(a.block_table[j / bs], j % bs) + kvh * dim;
        double acc = 0;
        for (int64_t d = 0; d < dim; ++d) acc += (double)q[d] * kr[d];
        s[j] = acc * a.scale;
        mx = std::max(mx, s[j]);
      }
      for (int64_t j = first; j < keys; ++j) sum += (s[j] = std::exp(s[j] - mx));
      double* o = &out[(t * heads + h) * dim];
      for (int64_t j = first; j < keys; ++j) {
        const float* vr = a.kv.v_row(a.block_table[j / bs], j % bs) + kvh * dim;
        for (int64_t d = 0; d < dim; ++d) o[d] += s[j] / sum * vr[d];
      }
    }
  }
  return out;
}

// A run of query tokens at positions [first, first + num_tokens) over a scrambled pool.
struct AttentionCase {
  int64_t kv_heads, group, dim, block_size, first, num_tokens;
};

std::string case_name(const AttentionCase& c) {
  return "kv_heads " + std::to_string(c.kv_heads) + " group " + std::to_string(c.group) + " dim " +
         std::to_string(c.dim) + " block " + std::to_string(c.block_size) + " positions " +
         std::to_string(c.first) + ".." + std::to_string(c.first + c.num_tokens);
}

class AttentionTest : public ::testing::TestWithParam<Isa> {};

// Every ISA against the double-precision definition and against the scalar kernel, over
// query tiles that span several KV chunks and blocks, runs that start mid-sequence, decode
// at depth (which splits the context across tasks), GQA groups 1/3/4 and odd head sizes.
TEST_P(AttentionTest, MatchesNaiveAndScalar) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not available on this CPU";
  const AttentionCase cases[] = {
      {3, 3, 64, 16, 0, 40},    // prefill: three tiles of 16 tokens, the last partial
      {3, 3, 64, 16, 45, 37},   // continues mid-sequence, tiles cross chunks and blocks
      {3, 3, 64, 16, 700, 1},   // decode at depth: context split across tasks
      {2, 1, 80, 5, 13, 50},    // MHA, blocks of 5 rows: chunks span several blocks
      {2, 1, 80, 16, 300, 2},   // two decode tokens at depth
      {1, 4, 128, 16, 20, 31},  // one KV head, group 4, 128-wide heads
      {2, 4, 128, 7, 250, 1},   // decode, 128-wide heads, odd block size
      {2, 2, 24, 4, 17, 6},     // head size not a multiple of the vector width
      {1, 3, 20, 3, 0, 19},     // ... nor of 8; tiny blocks
      {1, 3, 20, 3, 40, 1},     // the same in decode (few rows: the row-per-vector path)
      {1, 2, 160, 16, 50, 2},   // heads wider than the specialised kernels
  };
  std::mt19937 rng(11);
  for (const AttentionCase& c : cases) {
    SCOPED_TRACE(case_name(c));
    const int64_t heads = c.kv_heads * c.group, row = c.kv_heads * c.dim;
    const int64_t ctx = c.first + c.num_tokens;
    const int64_t logical_blocks = (ctx + c.block_size - 1) / c.block_size;
    const int64_t num_blocks = logical_blocks + 3;
    // Random values everywhere, also in rows no query may see; a NaN-free pool.
    auto kpool = random_vector(num_blocks * c.block_size * row, rng);
    auto vpool = random_vector(num_blocks * c.block_size * row, rng);
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    std::vector<int32_t> table(physical.begin(), physical.begin() + logical_blocks);
    const int64_t q_stride = heads * c.dim + 5, out_stride = heads * c.dim + 3;
    auto q = random_vector(c.num_tokens * q_stride, rng, 2.0f);
    std::vector<int32_t> positions(c.num_tokens);
    std::iota(positions.begin(), positions.end(), (int32_t)c.first);

    AttentionArgs a;
    a.q = q.data();
    a.q_stride = q_stride;
    a.out_stride = out_stride;
    a.positions = positions.data();
    a.num_tokens = c.num_tokens;
    a.num_heads = heads;
    a.num_kv_heads = c.kv_heads;
    a.head_dim = c.dim;
    a.scale = 1.0f / std::sqrt((float)c.dim);
    a.kv = KvPoolView{kpool.data(), vpool.data(), c.block_size, row};
    a.block_table = table.data();
    const std::vector<double> expect = naive_attention(a);

    auto run = [&](Isa run_isa, int threads) {
      std::vector<float> out(c.num_tokens * out_stride, -7.0f);
      a.out = out.data();
      ThreadPool pool(threads);
      AttentionScratch scratch;
      attention(a, pool, scratch, run_isa);
      return out;
    };
    const std::vector<float> scalar = run(Isa::kScalar, 1);
    std::vector<float> one_thread;
    for (int threads : {1, 3}) {
      const std::vector<float> out = run(isa, threads);
      for (int64_t t = 0; t < c.num_tokens; ++t) {
        for (int64_t i = 0; i < heads * c.dim; ++i) {
          const float got = out[t * out_stride + i];
          ASSERT_NEAR(got, expect[t * heads * c.dim + i], 1e-4) << "token " << t << " i " << i;
          ASSERT_NEAR(got, scalar[t * out_stride + i], 2e-5) << "token " << t << " i " << i;
        }
        for (int64_t i = heads * c.dim; i < out_stride; ++i)
          ASSERT_EQ(out[t * out_stride + i], -7.0f) << "wrote past the heads";
      }
      // The split of work depends on shapes only: any thread count, the same bits.
      if (threads == 1)
        one_thread = out;
      else
        EXPECT_EQ(0, std::memcmp(out.data(), one_thread.data(), out.size() * sizeof(float)));
    }
  }
}

// Scores far apart (a sharp softmax) and a first key that dominates and then is overtaken
// exercise the running-max rescale; a reused scratch across shapes must not leak state.
TEST_P(AttentionTest, RescalesAndReusesScratch) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not available on this CPU";
  std::mt19937 rng(5);
  ThreadPool pool(2);
  AttentionScratch scratch;
  for (int64_t n : {70, 1, 9}) {
    const int64_t heads = 6, kv_heads = 2, dim = 32, block = 16, first = n == 1 ? 400 : 3;
    const int64_t ctx = first + n, row = kv_heads * dim, blocks = (ctx + block - 1) / block;
    auto kpool = random_vector(blocks * block * row, rng, 3.0f);
    auto vpool = random_vector(blocks * block * row, rng);
    for (int64_t j = 0; j < ctx; j += 37)  // spikes: keys that dominate some rows' softmax
      for (int64_t d = 0; d < row; ++d) kpool[j * row + d] *= 4.0f;
    std::vector<int32_t> table(blocks);
    std::iota(table.begin(), table.end(), 0);
    auto q = random_vector(n * heads * dim, rng);
    std::vector<int32_t> positions(n);
    std::iota(positions.begin(), positions.end(), (int32_t)first);
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
    a.scale = 0.5f;
    a.kv = KvPoolView{kpool.data(), vpool.data(), block, row};
    a.block_table = table.data();
    attention(a, pool, scratch, isa);
    const std::vector<double> expect = naive_attention(a);
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(out[i], expect[i], 1e-4 * (1 + std::fabs(expect[i]))) << "n " << n << " i " << i;
  }
}

// A sliding window on every ISA against the double-precision definition and the scalar
// kernel: windows inside one chunk, across chunk and block edges, of one key, wider than
// the context; prefill tiles whose rows' windows start in different chunks (the by-key
// layout at 9+ rows and the by-row layout below), runs that start mid-sequence and decode
// at depth (the context split across tasks, some splits seeing no key of a row).
TEST_P(AttentionTest, SlidingWindowMatchesNaiveAndScalar) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not available on this CPU";
  struct WindowCase {
    int64_t kv_heads, group, dim, block_size, first, num_tokens, window;
  };
  const WindowCase cases[] = {
      {1, 4, 64, 16, 0, 70, 5},      // prefill, Gemma-like group, window inside a chunk
      {2, 3, 64, 16, 45, 37, 33},    // mid-sequence, window just over a chunk
      {1, 1, 32, 16, 0, 40, 32},     // MHA, window of exactly one chunk: by-row tiles
      {2, 1, 80, 5, 13, 50, 1},      // each token sees only itself
      {1, 4, 256, 16, 700, 1, 512},  // decode at depth, Gemma 3 270M's head size and window
      {1, 4, 256, 16, 511, 3, 512},  // the window's edge reaches position 0 and then leaves it
      {2, 4, 128, 7, 250, 2, 100},   // decode, odd block size
      {1, 3, 20, 3, 0, 19, 1000},    // window wider than the context: full attention
      {2, 2, 24, 4, 40, 6, 7},       // head size not a multiple of the vector width
  };
  std::mt19937 rng(17);
  for (const WindowCase& c : cases) {
    SCOPED_TRACE("kv_heads " + std::to_string(c.kv_heads) + " group " + std::to_string(c.group) +
                 " dim " + std::to_string(c.dim) + " positions " + std::to_string(c.first) + ".." +
                 std::to_string(c.first + c.num_tokens) + " window " + std::to_string(c.window));
    const int64_t heads = c.kv_heads * c.group, row = c.kv_heads * c.dim;
    const int64_t ctx = c.first + c.num_tokens;
    const int64_t logical_blocks = (ctx + c.block_size - 1) / c.block_size;
    const int64_t num_blocks = logical_blocks + 2;
    auto kpool = random_vector(num_blocks * c.block_size * row, rng, 2.0f);
    auto vpool = random_vector(num_blocks * c.block_size * row, rng);
    std::vector<int32_t> physical(num_blocks);
    std::iota(physical.begin(), physical.end(), 0);
    std::shuffle(physical.begin(), physical.end(), rng);
    std::vector<int32_t> table(physical.begin(), physical.begin() + logical_blocks);
    auto q = random_vector(c.num_tokens * heads * c.dim, rng, 2.0f);
    std::vector<int32_t> positions(c.num_tokens);
    std::iota(positions.begin(), positions.end(), (int32_t)c.first);

    AttentionArgs a;
    a.q = q.data();
    a.q_stride = heads * c.dim;
    a.out_stride = heads * c.dim;
    a.positions = positions.data();
    a.num_tokens = c.num_tokens;
    a.num_heads = heads;
    a.num_kv_heads = c.kv_heads;
    a.head_dim = c.dim;
    a.scale = 1.0f / std::sqrt((float)c.dim);
    a.window = c.window;
    a.kv = KvPoolView{kpool.data(), vpool.data(), c.block_size, row};
    a.block_table = table.data();
    const std::vector<double> expect = naive_attention(a);
    // The window must matter where it drops at least half the context.
    AttentionArgs full = a;
    full.window = 0;
    const std::vector<double> unwindowed = naive_attention(full);
    double window_effect = 0;
    for (size_t i = 0; i < expect.size(); ++i)
      window_effect = std::max(window_effect, std::abs(expect[i] - unwindowed[i]));
    if (2 * c.window <= ctx) {
      EXPECT_GT(window_effect, 1e-2);
    }

    auto run = [&](Isa run_isa, int threads) {
      std::vector<float> out(c.num_tokens * heads * c.dim, -7.0f);
      a.out = out.data();
      ThreadPool pool(threads);
      AttentionScratch scratch;
      attention(a, pool, scratch, run_isa);
      return out;
    };
    const std::vector<float> scalar = run(Isa::kScalar, 1);
    std::vector<float> one_thread;
    for (int threads : {1, 3}) {
      const std::vector<float> out = run(isa, threads);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(out[i], expect[i], 1e-4) << "i " << i;
        ASSERT_NEAR(out[i], scalar[i], 2e-5) << "i " << i;
      }
      if (threads == 1)
        one_thread = out;
      else
        EXPECT_EQ(0, std::memcmp(out.data(), one_thread.data(), out.size() * sizeof(float)));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace kiln::cpu
