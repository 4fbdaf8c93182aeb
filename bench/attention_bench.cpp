// CPU attention at SmolLM2-135M's shapes (9 query heads, 3 KV heads, head_dim 64, blocks of
// 16 rows as Session uses): a 512-token prompt at an empty cache, a 32-token prompt chunk
// at 1k cached tokens, one decode token at 1k, 4k and 8k cached tokens, a ragged batch
// of 32 sequences decoding one token each at 1k, 16 sequences (batched decode) at 128, and
// 480 at 128 (16 sequences' step over 30 layers' worth of KV, so the KV comes from DRAM as
// in the model); 1 and 2 threads; KV stored as F32 and F16.
// "old" is the kernel flash tiling replaced (one task per query token and head: scores for
// every key, a full softmax, then the weighted sum of V; F32 KV, one sequence), kept here as
// the baseline. One layer's KV is timed, so it is cache-warm; the model's 30 layers at 8k
// are not.
//
//   kiln_micro_bench --benchmark_filter=attention/
// KILN_ISA=avx2|scalar caps the ISA.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kHeads = 9, kKvHeads = 3, kDim = 64, kBlock = 16;

// The kernel before flash tiling, verbatim but for its scratch (one score buffer per
// thread, as long as the context).
void attention_old(const AttentionArgs& a, ThreadPool& pool,
                   std::vector<std::vector<float>>& scores_scratch) {
  const VectorKernels& kern = vector_kernels(best_isa());
  const int64_t group = a.num_heads / a.num_kv_heads;
  int32_t max_pos = 0;
  const int64_t num_tokens = a.sequences[0].num_tokens;
  for (int64_t t = 0; t < num_tokens; ++t) max_pos = std::max(max_pos, a.positions[t]);
  scores_scratch.resize(pool.num_threads());
  for (auto& s : scores_scratch)
    if ((int64_t)s.size() < max_pos + 1) s.resize(max_pos + 1);
  pool.parallel_for(num_tokens * a.num_heads, [&](int64_t task, int thread) {
    const int64_t t = task / a.num_heads, h = task % a.num_heads;
    const int32_t* block_table = a.sequences[0].block_table;
    const int64_t kv_h = h / group;
    const float* q = a.q + t * a.q_stride + h * a.head_dim;
    float* out = a.out + t * a.out_stride + h * a.head_dim;
    float* scores = scores_scratch[thread].data();
    const int64_t num_keys = (int64_t)a.positions[t] + 1;
    const int64_t bs = a.kv.block_size;
    const int64_t col = kv_h * a.head_dim;
    auto k_rows = [&](int32_t block) { return (const float*)a.kv.k_row(block, 0) + col; };
    auto v_rows = [&](int32_t block) { return (const float*)a.kv.v_row(block, 0) + col; };
    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t start = 0; start < num_keys; start += bs) {
      const int64_t n = std::min(bs, num_keys - start);
      kern.dot_rows(q, k_rows(block_table[start / bs]), a.kv.row_elements, n, a.head_dim, a.scale,
                    scores + start);
      for (int64_t i = 0; i < n; ++i) max_score = std::max(max_score, scores[start + i]);
    }
    const float sum = kern.exp_sum(scores, num_keys, max_score);
    const float inv_sum = 1.0f / sum;
    for (int64_t i = 0; i < num_keys; ++i) scores[i] *= inv_sum;
    std::memset(out, 0, sizeof(float) * a.head_dim);
    for (int64_t start = 0; start < num_keys; start += bs) {
      const int64_t n = std::min(bs, num_keys - start);
      kern.axpy_rows(scores + start, v_rows(block_table[start / bs]), a.kv.row_elements, n,
                     a.head_dim, out);
    }
  });
}

ThreadPool& pool(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

// num_seqs sequences of `tokens` query tokens each at `depth` cached tokens, each on its
// own blocks.
void bm_attention(benchmark::State& state, bool old, int64_t depth, int64_t tokens, int threads,
                  KvDType dtype, int64_t num_seqs) {
  const int64_t ctx = depth + tokens, row = kKvHeads * kDim;
  const int64_t blocks_each = (ctx + kBlock - 1) / kBlock, blocks = blocks_each * num_seqs;
  const int64_t num_tokens = tokens * num_seqs;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> kf(blocks * kBlock * row), vf(kf.size()), q(num_tokens * kHeads * kDim),
      out(q.size());
  for (auto* vec : {&kf, &vf, &q})
    for (auto& x : *vec) x = dist(rng);
  const int64_t row_bytes = row * kv_dtype_bytes(dtype);
  std::vector<uint8_t> k(blocks * kBlock * row_bytes), v(k.size());
  for (int64_t r = 0; r < blocks * kBlock; ++r) {
    convert_kv_row(&kf[r * row], &k[r * row_bytes], row, dtype);
    convert_kv_row(&vf[r * row], &v[r * row_bytes], row, dtype);
  }
  std::vector<int32_t> table(blocks), positions;
  std::iota(table.begin(), table.end(), 0);
  std::vector<AttentionSequence> seqs;
  for (int64_t s = 0; s < num_seqs; ++s) {
    seqs.push_back({s * tokens, tokens, table.data() + s * blocks_each});
    for (int64_t t = 0; t < tokens; ++t) positions.push_back((int32_t)(depth + t));
  }
  AttentionArgs a;
  a.q = q.data();
  a.q_stride = kHeads * kDim;
  a.out = out.data();
  a.out_stride = kHeads * kDim;
  a.positions = positions.data();
  a.num_heads = kHeads;
  a.num_kv_heads = kKvHeads;
  a.head_dim = kDim;
  a.scale = 0.125f;
  a.kv = KvPoolView{k.data(), v.data(), kBlock, row, dtype};
  a.sequences = seqs.data();
  a.num_sequences = num_seqs;
  ThreadPool& p = pool(threads);
  AttentionScratch scratch;
  std::vector<std::vector<float>> old_scratch;
  for (auto _ : state) {
    if (old)
      attention_old(a, p, old_scratch);
    else
      attention(a, p, scratch);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // Multiply-adds actually needed (causal): QK^T and PV over each query's visible keys.
  double flops = 0;
  for (int64_t t = 0; t < tokens; ++t) flops += 4.0 * kHeads * kDim * (depth + t + 1) * num_seqs;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * (double)state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["tok/s"] = benchmark::Counter((double)num_tokens * (double)state.iterations(),
                                               benchmark::Counter::kIsRate);
}

const bool registered = [] {
  struct Shape {
    const char* name;
    int64_t depth, tokens, num_seqs;
  };
  const Shape shapes[] = {{"prefill512", 0, 512, 1},   {"prefill32_at1k", 1024, 32, 1},
                          {"decode_at1k", 1024, 1, 1}, {"decode_at4k", 4096, 1, 1},
                          {"decode_at8k", 8192, 1, 1}, {"decode32seqs_at1k", 1024, 1, 32},
                          {"decode16seqs_at128", 128, 1, 16}, {"decode480seqs_at128", 128, 1, 480}};
  for (const Shape& s : shapes) {
    for (const char* kind : {"old", "flash", "flash_f16"}) {
      const bool old = kind[0] == 'o';
      if (old && s.num_seqs > 1) continue;
      const KvDType dtype = std::string(kind) == "flash_f16" ? KvDType::kF16 : KvDType::kF32;
      for (int threads : {1, 2}) {
        const std::string name =
            std::string("attention/") + kind + "/" + s.name + "/threads:" + std::to_string(threads);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), bm_attention, old, s.depth, s.tokens,
                                               threads, dtype, s.num_seqs)
                      ->Unit(benchmark::kMicrosecond);
        // NOTE: as in matmul_bench, one thread is timed by CPU time, two by wall time.
        if (threads > 1) b->UseRealTime();
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace kiln::cpu
