// attention() on every ISA and KV element type against a double-precision definition that
// reads the same stored K/V elements, and against the scalar kernel; invariance of the
// results under the thread count and under batching (a sequence's output is the same bits
// alone or in a ragged batch with others).
#include "kernels/cpu/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "util/fp16.h"

namespace kiln::cpu {
namespace {

constexpr KvDType kDTypes[] = {KvDType::kF32, KvDType::kF16, KvDType::kBF16};

const char* dtype_label(KvDType t) {
  return t == KvDType::kF32 ? "f32" : t == KvDType::kF16 ? "f16" : "bf16";
}

std::vector<float> random_vector(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A pool of random K and V rows stored as `dtype` (written through convert_kv_row, as the
// model writes them).
struct TestPool {
  TestPool(KvDType dtype, int64_t num_blocks, int64_t block_size, int64_t row, std::mt19937& rng,
           float k_scale = 1.0f, const std::vector<int64_t>& spikes = {})
      : dtype(dtype), block_size(block_size), row(row) {
    const int64_t rows = num_blocks * block_size, row_bytes = row * kv_dtype_bytes(dtype);
    k.resize(rows * row_bytes);
    v.resize(rows * row_bytes);
    auto kf = random_vector(rows * row, rng, k_scale), vf = random_vector(rows * row, rng);
    for (int64_t j : spikes)  // keys that dominate some rows' softmax
      for (int64_t d = 0; d < row && j < rows; ++d) kf[j * row + d] *= 4.0f;
    for (int64_t r = 0; r < rows; ++r) {
      convert_kv_row(&kf[r * row], &k[r * row_bytes], row, dtype, Isa::kScalar);
      convert_kv_row(&vf[r * row], &v[r * row_bytes], row, dtype, Isa::kScalar);
    }
  }
  KvPoolView view() const { return KvPoolView{k.data(), v.data(), block_size, row, dtype}; }
  KvDType dtype;
  int64_t block_size, row;
  std::vector<uint8_t> k, v;
};

// Element i of a stored row, as the kernels must read it.
double stored(KvDType dtype, const uint8_t* row, int64_t i) {
  uint16_t h;
  switch (dtype) {
    case KvDType::kF32: {
      float f;
      std::memcpy(&f, row + 4 * i, 4);
      return f;
    }
    case KvDType::kF16:
      std::memcpy(&h, row + 2 * i, 2);
      return fp16_to_fp32(h);
    case KvDType::kBF16:
      std::memcpy(&h, row + 2 * i, 2);
      return bf16_to_fp32(h);
  }
  return 0;
}

// Direct double-precision causal attention over each sequence's block table (within
// a.window if set); [token][num_heads * head_dim].
std::vector<double> naive_attention(const AttentionArgs& a) {
  const int64_t heads = a.num_heads, dim = a.head_dim, group = heads / a.num_kv_heads;
  const int64_t bs = a.kv.block_size;
  int64_t num_tokens = 0;
  for (int64_t s = 0; s < a.num_sequences; ++s) num_tokens += a.sequences[s].num_tokens;
  std::vector<double> out(num_tokens * heads * dim);
  for (int64_t s = 0; s < a.num_sequences; ++s) {
    const AttentionSequence& seq = a.sequences[s];
    for (int64_t t = seq.first_token; t < seq.first_token + seq.num_tokens; ++t) {
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t kvh = h / group, keys = (int64_t)a.positions[t] + 1;
        const int64_t first = a.window > 0 ? std::max<int64_t>(0, keys - a.window) : 0;
        const float* q = a.q + t * a.q_stride + h * dim;
        std::vector<double> sc(keys, 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = first; j < keys; ++j) {
          const uint8_t* kr = a.kv.k_row(seq.block_table[j / bs], j % bs);
          double acc = 0;
          for (int64_t d = 0; d < dim; ++d)
            acc += (double)q[d] * stored(a.kv.dtype, kr, kvh * dim + d);
          sc[j] = acc * a.scale;
          mx = std::max(mx, sc[j]);
        }
        for (int64_t j = first; j < keys; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
        double* o = &out[(t * heads + h) * dim];
        for (int64_t j = first; j < keys; ++j) {
          const uint8_t* vr = a.kv.v_row(seq.block_table[j / bs], j % bs);
          for (int64_t d = 0; d < dim; ++d)
            o[d] += sc[j] / sum * stored(a.kv.dtype, vr, kvh * dim + d);
        }
      }
    }
  }
  return out;
}

// A shuffled table of `logical` blocks out of [0, num_blocks).
std::vector<int32_t> shuffled_table(int64_t num_blocks, int64_t logical, std::mt19937& rng) {
  std::vector<int32_t> physical(num_blocks);
  std::iota(physical.begin(), physical.end(), 0);
  std::shuffle(physical.begin(), physical.end(), rng);
  return std::vector<int32_t>(physical.begin(), physical.begin() + logical);
}

// Runs attention with `threads` threads into a fresh output of `out_rows` rows filled with
// -7 (to catch writes past the heads).
std::vector<float> run(AttentionArgs a, int64_t out_rows, Isa isa, int threads) {
  std::vector<float> out(out_rows * a.out_stride, -7.0f);
  a.out = out.data();
  ThreadPool pool(threads);
  AttentionScratch scratch;
  attention(a, pool, scratch, isa);
  return out;
}

// A run of query tokens at positions [first, first + num_tokens) over a scrambled pool.
struct AttentionCase {
  int64_t kv_heads, group, dim, block_size, first, num_tokens, window = 0;
};

std::string case_name(const AttentionCase& c, KvDType dtype) {
  return std::string(dtype_label(dtype)) + " kv_heads " + std::to_string(c.kv_heads) + " group " +
         std::to_string(c.group) + " dim " + std::to_string(c.dim) + " block " +
         std::to_string(c.block_size) + " positions " + std::to_string(c.first) + ".." +
         std::to_string(c.first + c.num_tokens) + " window " + std::to_string(c.window);
}

class AttentionTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam())) GTEST_SKIP() << isa_name(GetParam()) << " not available";
  }

  // One sequence: every ISA against the double-precision definition and the scalar kernel,
  // the same bits on 1 and 3 threads. With padded q/out strides where `padded`.
  void check_case(const AttentionCase& c, KvDType dtype, std::mt19937& rng, bool padded) {
    SCOPED_TRACE(case_name(c, dtype));
    const int64_t heads = c.kv_heads * c.group, row = c.kv_heads * c.dim;
    const int64_t ctx = c.first + c.num_tokens;
    const int64_t logical = (ctx + c.block_size - 1) / c.block_size;
    // Random values everywhere, also in rows no query may see.
    const TestPool pool(dtype, logical + 3, c.block_size, row, rng, 2.0f);
    const std::vector<int32_t> table = shuffled_table(logical + 3, logical, rng);
    const int64_t q_stride = heads * c.dim + (padded ? 5 : 0);
    auto q = random_vector(c.num_tokens * q_stride, rng, 2.0f);
    std::vector<int32_t> positions(c.num_tokens);
    std::iota(positions.begin(), positions.end(), (int32_t)c.first);
    const AttentionSequence seq{0, c.num_tokens, table.data()};

    AttentionArgs a;
    a.q = q.data();
    a.q_stride = q_stride;
    a.out_stride = heads * c.dim + (padded ? 3 : 0);
    a.positions = positions.data();
    a.num_heads = heads;
    a.num_kv_heads = c.kv_heads;
    a.head_dim = c.dim;
    a.scale = 1.0f / std::sqrt((float)c.dim);
    a.window = c.window;
    a.kv = pool.view();
    a.sequences = &seq;
    a.num_sequences = 1;
    const std::vector<double> expect = naive_attention(a);
    if (c.window > 0 && 2 * c.window <= ctx) {  // the window must matter
      AttentionArgs full = a;
      full.window = 0;
      const std::vector<double> unwindowed = naive_attention(full);
      double effect = 0;
      for (size_t i = 0; i < expect.size(); ++i)
        effect = std::max(effect, std::abs(expect[i] - unwindowed[i]));
      EXPECT_GT(effect, 1e-2);
    }
    const std::vector<float> scalar = run(a, c.num_tokens, Isa::kScalar, 1);
    const std::vector<float> one_thread = run(a, c.num_tokens, GetParam(), 1);
    for (int64_t t = 0; t < c.num_tokens; ++t) {
      for (int64_t i = 0; i < heads * c.dim; ++i) {
        const float got = one_thread[t * a.out_stride + i];
        ASSERT_NEAR(got, expect[t * heads * c.dim + i], 1e-4) << "token " << t << " i " << i;
        ASSERT_NEAR(got, scalar[t * a.out_stride + i], 2e-5) << "token " << t << " i " << i;
      }
      for (int64_t i = heads * c.dim; i < a.out_stride; ++i)
        ASSERT_EQ(one_thread[t * a.out_stride + i], -7.0f) << "wrote past the heads";
    }
    // The split of work depends on shapes only: any thread count, the same bits.
    const std::vector<float> three = run(a, c.num_tokens, GetParam(), 3);
    EXPECT_EQ(0, std::memcmp(three.data(), one_thread.data(), three.size() * sizeof(float)));
  }
};

// Query tiles that span several KV chunks and blocks, runs that start mid-sequence, decode
// at depth (which splits the context across tasks), GQA groups 1/3/4 and odd head sizes.
TEST_P(AttentionTest, MatchesNaiveAndScalar) {
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
  for (KvDType dtype : kDTypes)
    for (const AttentionCase& c : cases) check_case(c, dtype, rng, /*padded=*/true);
}

// A sliding window: windows inside one chunk, across chunk and block edges, of one key,
// wider than the context; prefill tiles whose rows' windows start in different chunks (the
// by-key layout at 9+ rows and the by-row layout below), runs that start mid-sequence and
// decode at depth (the context split across tasks, some splits seeing no key of a row).
TEST_P(AttentionTest, SlidingWindowMatchesNaiveAndScalar) {
  const AttentionCase cases[] = {
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
  for (KvDType dtype : kDTypes)
    for (const AttentionCase& c : cases) check_case(c, dtype, rng, /*padded=*/false);
}

// Scores far apart (a sharp softmax) and a first key that dominates and then is overtaken
// exercise the running-max rescale; a reused scratch across shapes must not leak state.
TEST_P(AttentionTest, RescalesAndReusesScratch) {
  std::mt19937 rng(5);
  ThreadPool threads(2);
  AttentionScratch scratch;
  for (KvDType dtype : kDTypes) {
    for (int64_t n : {70, 1, 9}) {
      const int64_t heads = 6, kv_heads = 2, dim = 32, block = 16, first = n == 1 ? 400 : 3;
      const int64_t ctx = first + n, row = kv_heads * dim, blocks = (ctx + block - 1) / block;
      std::vector<int64_t> spikes;
      for (int64_t j = 0; j < ctx; j += 37) spikes.push_back(j);
      const TestPool pool(dtype, blocks, block, row, rng, 3.0f, spikes);
      std::vector<int32_t> table(blocks);
      std::iota(table.begin(), table.end(), 0);
      auto q = random_vector(n * heads * dim, rng);
      std::vector<int32_t> positions(n);
      std::iota(positions.begin(), positions.end(), (int32_t)first);
      std::vector<float> out(n * heads * dim);
      const AttentionSequence seq{0, n, table.data()};
      AttentionArgs a;
      a.q = q.data();
      a.q_stride = heads * dim;
      a.out = out.data();
      a.out_stride = heads * dim;
      a.positions = positions.data();
      a.num_heads = heads;
      a.num_kv_heads = kv_heads;
      a.head_dim = dim;
      a.scale = 0.5f;
      a.kv = pool.view();
      a.sequences = &seq;
      a.num_sequences = 1;
      attention(a, threads, scratch, GetParam());
      const std::vector<double> expect = naive_attention(a);
      for (size_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out[i], expect[i], 1e-4 * (1 + std::fabs(expect[i])))
            << dtype_label(dtype) << " n " << n << " i " << i;
    }
  }
}

struct BatchSeq {
  int64_t first_pos, num_tokens;
};

// One call over a batch of sequences, each with its own shuffled blocks of one shared pool,
// gives each sequence exactly the bits it gets alone, on 1 and 3 threads, and matches the
// definition; with and without a sliding window, on every KV element type.
void check_batch_equals_each_alone(const std::vector<BatchSeq>& seqs, Isa isa) {
  for (KvDType dtype : kDTypes) {
    for (int64_t window : {0, 33}) {
      SCOPED_TRACE(std::string(dtype_label(dtype)) + " window " + std::to_string(window));
      const int64_t kv_heads = 3, group = 3, dim = 64, block = 16, heads = kv_heads * group;
      std::mt19937 rng(29);
      int64_t total_blocks = 0, num_tokens = 0;
      for (const BatchSeq& s : seqs) {
        total_blocks += (s.first_pos + s.num_tokens + block - 1) / block;
        num_tokens += s.num_tokens;
      }
      const TestPool pool(dtype, total_blocks + 4, block, kv_heads * dim, rng, 2.0f);
      // Disjoint blocks per sequence, drawn from one shuffled list of the pool's blocks.
      const std::vector<int32_t> all = shuffled_table(total_blocks + 4, total_blocks, rng);
      std::vector<std::vector<int32_t>> tables;
      std::vector<AttentionSequence> sequences;
      std::vector<int32_t> positions;
      int64_t next_block = 0;
      for (const BatchSeq& s : seqs) {
        const int64_t n = (s.first_pos + s.num_tokens + block - 1) / block;
        tables.emplace_back(all.begin() + next_block, all.begin() + next_block + n);
        next_block += n;
        sequences.push_back({(int64_t)positions.size(), s.num_tokens, nullptr});
        for (int64_t t = 0; t < s.num_tokens; ++t) positions.push_back((int32_t)(s.first_pos + t));
      }
      for (size_t i = 0; i < sequences.size(); ++i) sequences[i].block_table = tables[i].data();
      const auto q = random_vector(num_tokens * heads * dim, rng, 2.0f);

      AttentionArgs a;
      a.q = q.data();
      a.q_stride = heads * dim;
      a.out_stride = heads * dim;
      a.positions = positions.data();
      a.num_heads = heads;
      a.num_kv_heads = kv_heads;
      a.head_dim = dim;
      a.scale = 0.125f;
      a.window = window;
      a.kv = pool.view();
      a.sequences = sequences.data();
      a.num_sequences = (int64_t)sequences.size();
      const std::vector<double> expect = naive_attention(a);
      const std::vector<float> batch = run(a, num_tokens, isa, 3);
      for (size_t i = 0; i < batch.size(); ++i) ASSERT_NEAR(batch[i], expect[i], 1e-4) << i;
      EXPECT_EQ(batch, run(a, num_tokens, isa, 1));

      const int64_t row = heads * dim;
      for (size_t i = 0; i < sequences.size(); ++i) {
        const AttentionSequence& s = sequences[i];
        AttentionArgs alone = a;
        alone.q = a.q + s.first_token * row;
        alone.positions = a.positions + s.first_token;
        const AttentionSequence one{0, s.num_tokens, s.block_table};
        alone.sequences = &one;
        alone.num_sequences = 1;
        const std::vector<float> got = run(alone, s.num_tokens, isa, 2);
        ASSERT_EQ(0, std::memcmp(got.data(), batch.data() + s.first_token * row,
                                 got.size() * sizeof(float)))
            << "sequence " << i;
      }
    }
  }
}

// A ragged batch: decode rows at different depths, prefill chunks that start at 0 or
// mid-sequence, long and short.
TEST_P(AttentionTest, RaggedBatchEqualsEachSequenceAlone) {
  check_batch_equals_each_alone(
      {{700, 1}, {0, 40}, {37, 1}, {45, 37}, {5, 3}, {0, 1}, {300, 2}, {16, 16}}, GetParam());
}

// Batched decode: enough sequences that a task takes all of a tile's KV heads at once and
// prefetches the next chunk and the next task's first, which alone only the deep one does
// (its context split across tasks); contexts of one chunk, several, and deep ones split
// across tasks, plus a prefill among them.
TEST_P(AttentionTest, ManyDecodingSequencesEqualEachAlone) {
  std::vector<BatchSeq> seqs;
  for (int64_t i = 0; i < 40; ++i) seqs.push_back({(i * 37) % 300, 1});
  seqs.push_back({0, 20});
  seqs.push_back({900, 1});
  check_batch_equals_each_alone(seqs, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Isas, AttentionTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const auto& info) { return std::string(isa_name(info.param)); });

}  // namespace
}  // namespace kiln::cpu
