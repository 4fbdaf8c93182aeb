#include "kernels/cpu/attention.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {

void attention(const AttentionArgs& a, ThreadPool& pool, AttentionScratch& scratch, Isa isa) {
  const VectorKernels& kern = vector_kernels(isa);
  const int64_t group = a.num_heads / a.num_kv_heads;
  int32_t max_pos = 0;
  for (int64_t t = 0; t < a.num_tokens; ++t) max_pos = std::max(max_pos, a.positions[t]);
  scratch.scores.resize(pool.num_threads());
  for (auto& s : scratch.scores)
    if ((int64_t)s.size() < max_pos + 1) s.resize(max_pos + 1);

  // One task per (query token, head): enough parallelism for both prefill and decode.
  const int64_t num_tasks = a.num_tokens * a.num_heads;
  pool.parallel_for(num_tasks, [&](int64_t task, int thread) {
    const int64_t t = task / a.num_heads, h = task % a.num_heads;
    const int64_t kv_h = h / group;
    const float* q = a.q + t * a.q_stride + h * a.head_dim;
    float* out = a.out + t * a.out_stride + h * a.head_dim;
    float* scores = scratch.scores[thread].data();
    const int64_t num_keys = (int64_t)a.positions[t] + 1;
    const int64_t bs = a.kv.block_size;
    const int64_t col = kv_h * a.head_dim;

    float max_score = -std::numeric_limits<float>::infinity();
    for (int64_t start = 0; start < num_keys; start += bs) {
      const int64_t n = std::min(bs, num_keys - start);
      const int32_t block = a.block_table[start / bs];
      kern.dot_rows(q, a.kv.k_row(block, 0) + col, a.kv.row_floats, n, a.head_dim, a.scale,
                    scores + start);
      for (int64_t i = 0; i < n; ++i) max_score = std::max(max_score, scores[start + i]);
    }
    const float sum = kern.exp_sum(scores, num_keys, max_score);
    const float inv_sum = 1.0f / sum;
    for (int64_t i = 0; i < num_keys; ++i) scores[i] *= inv_sum;

    std::memset(out, 0, sizeof(float) * a.head_dim);
    for (int64_t start = 0; start < num_keys; start += bs) {
      const int64_t n = std::min(bs, num_keys - start);
      const int32_t block = a.block_table[start / bs];
      kern.axpy_rows(scores + start, a.kv.v_row(block, 0) + col, a.kv.row_floats, n, a.head_dim,
                     out);
    }
  });
}

}  // namespace kiln::cpu
