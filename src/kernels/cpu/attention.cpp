#include "kernels/cpu/attention.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "kernels/cpu/vector_kernels.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

// NOTE: 48 rows keeps a tile's query, output and scores (~40 KB at head_dim 64) next to
// the K/V chunk in L1/L2 and gives the many-row kernel three full AVX-512 row vectors for
// SmolLM2's 3 query heads per KV head (16 tokens).
constexpr int64_t kTileRows = 48;
constexpr int64_t kMaxTileTokens = 32;
// Fewer (tile, KV head) tasks than this: split each tile's context across tasks, so that two
// threads (or more) stay busy in decode; each split keeps at least kMinSplitChunks chunks.
constexpr int64_t kTargetTasks = 16;
constexpr int64_t kMinSplitChunks = 4;

struct Plan {
  int64_t group = 0;        // query heads per KV head
  int64_t tile_tokens = 0;  // query tokens per tile
  int64_t num_tiles = 0;
  int64_t max_rows = 0;  // query rows of a full tile: tile_tokens * group
  int64_t splits = 0;    // tasks each (tile, KV head) context is divided into
  int64_t num_tasks = 0;
};

Plan make_plan(const AttentionArgs& a) {
  Plan p;
  p.group = a.num_heads / a.num_kv_heads;
  p.tile_tokens = std::clamp<int64_t>(kTileRows / p.group, 1, kMaxTileTokens);
  p.tile_tokens = std::min(p.tile_tokens, a.num_tokens);
  p.num_tiles = (a.num_tokens + p.tile_tokens - 1) / p.tile_tokens;
  p.max_rows = p.tile_tokens * p.group;
  int32_t max_pos = 0;
  for (int64_t t = 0; t < a.num_tokens; ++t) max_pos = std::max(max_pos, a.positions[t]);
  const int64_t max_chunks = ((int64_t)max_pos + kAttendChunkKeys) / kAttendChunkKeys;
  const int64_t base_tasks = p.num_tiles * a.num_kv_heads;
  p.splits = 1;
  if (base_tasks < kTargetTasks)
    p.splits = std::clamp<int64_t>((kTargetTasks + base_tasks - 1) / base_tasks, 1,
                                   std::max<int64_t>(1, max_chunks / kMinSplitChunks));
  p.num_tasks = base_tasks * p.splits;
  return p;
}

// Per-thread floats: query tile, output, max, sum, kernel work, zero row.
struct ThreadBuffers {
  float *q, *o, *m, *l, *work, *zeros;
};

int64_t thread_floats(const Plan& p, int64_t dim) {
  const int64_t rows = p.max_rows;
  return attend_query_floats(rows, dim) + rows * dim + 2 * rows + attend_chunk_work_floats(rows) +
         dim;
}

ThreadBuffers thread_buffers(float* base, const Plan& p, int64_t dim) {
  const int64_t rows = p.max_rows;
  ThreadBuffers b;
  b.q = base;
  b.o = b.q + attend_query_floats(rows, dim);
  b.m = b.o + rows * dim;
  b.l = b.m + rows;
  b.work = b.l + rows;
  b.zeros = b.work + attend_chunk_work_floats(rows);
  return b;
}

// A split's partial result per row: [rows][dim] output, then max and sum per row.
int64_t partial_floats(const Plan& p, int64_t dim) { return p.max_rows * (dim + 2); }

}  // namespace

void attention(const AttentionArgs& a, ThreadPool& pool, AttentionScratch& scratch, Isa isa) {
  if (a.num_tokens <= 0) return;
  KILN_CHECK(a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0);
  const VectorKernels& kern = vector_kernels(isa);
  const Plan plan = make_plan(a);
  const int64_t dim = a.head_dim, bs = a.kv.block_size;

  const int64_t per_thread = thread_floats(plan, dim);
  scratch.thread_floats.resize(pool.num_threads());
  scratch.thread_positions.resize(pool.num_threads());
  for (auto& f : scratch.thread_floats)
    if ((int64_t)f.size() < per_thread) f.resize(per_thread);
  for (auto& v : scratch.thread_positions)
    if ((int64_t)v.size() < plan.max_rows) v.resize(plan.max_rows);
  const int64_t partial_stride = partial_floats(plan, dim);
  if (plan.splits > 1 && (int64_t)scratch.partials.size() < plan.num_tasks * partial_stride)
    scratch.partials.resize(plan.num_tasks * partial_stride);

  pool.parallel_for(plan.num_tasks, [&](int64_t task, int thread) {
    // Last tiles first: under a causal mask they have the most keys, and starting them
    // early balances the threads' loads.
    const int64_t per_tile = a.num_kv_heads * plan.splits;
    const int64_t tile = plan.num_tiles - 1 - task / per_tile;
    const int64_t kv_head = task % per_tile / plan.splits, split = task % plan.splits;
    const int64_t t0 = tile * plan.tile_tokens;
    const int64_t num_tile_tokens = std::min(plan.tile_tokens, a.num_tokens - t0);
    const int64_t rows = num_tile_tokens * plan.group;
    ThreadBuffers b = thread_buffers(scratch.thread_floats[thread].data(), plan, dim);
    int32_t* row_pos = scratch.thread_positions[thread].data();

    int32_t tile_max_pos = 0;
    for (int64_t r = 0; r < rows; ++r) {
      row_pos[r] = a.positions[t0 + r / plan.group];
      tile_max_pos = std::max(tile_max_pos, row_pos[r]);
    }
    QueryTile qt;
    qt.src = a.q + t0 * a.q_stride + kv_head * plan.group * dim;
    qt.token_stride = a.q_stride;
    qt.group = plan.group;
    qt.num_rows = rows;
    qt.head_dim = dim;
    qt.scale = a.scale;
    kern.load_queries(qt, b.q);
    std::fill(b.zeros, b.zeros + dim, 0.0f);

    if (plan.splits > 1) {
      float* part = scratch.partials.data() + task * partial_stride;
      b.o = part;
      b.m = part + plan.max_rows * dim;
      b.l = b.m + plan.max_rows;
    }
    std::fill(b.o, b.o + rows * dim, 0.0f);
    std::fill(b.m, b.m + rows, -std::numeric_limits<float>::infinity());
    std::fill(b.l, b.l + rows, 0.0f);

    // This split's share of the chunks up to the tile's last position; chunks above the
    // causal diagonal of every row are never visited.
    const int64_t num_keys = (int64_t)tile_max_pos + 1;
    const int64_t num_chunks = (num_keys + kAttendChunkKeys - 1) / kAttendChunkKeys;
    const int64_t chunk_begin = split * num_chunks / plan.splits;
    const int64_t chunk_end = (split + 1) * num_chunks / plan.splits;
    const int64_t col = kv_head * dim;

    std::array<const float*, kAttendChunkKeys> k_rows, v_rows;
    AttendChunk c;
    c.q = b.q;
    c.row_pos = row_pos;
    c.num_rows = rows;
    c.head_dim = dim;
    c.k_rows = k_rows.data();
    c.v_rows = v_rows.data();
    c.o = b.o;
    c.m = b.m;
    c.l = b.l;
    c.work = b.work;
    for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
      c.kv_pos = chunk * kAttendChunkKeys;
      c.num_keys = std::min(kAttendChunkKeys, num_keys - c.kv_pos);
      int64_t logical = c.kv_pos / bs, offset = c.kv_pos % bs;
      for (int64_t i = 0; i < c.num_keys; ++i) {
        const int32_t block = a.block_table[logical];
        k_rows[i] = a.kv.k_row(block, offset) + col;
        v_rows[i] = a.kv.v_row(block, offset) + col;
        if (++offset == bs) offset = 0, ++logical;
      }
      for (int64_t i = c.num_keys; i < kAttendChunkKeys; ++i) k_rows[i] = v_rows[i] = b.zeros;
      kern.attend_chunk(c);
    }

    if (plan.splits == 1) {
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t tt = r / plan.group, hh = r % plan.group;
        float* out = a.out + (t0 + tt) * a.out_stride + (kv_head * plan.group + hh) * dim;
        const float inv = b.l[r] > 0 ? 1.0f / b.l[r] : 0.0f;
        for (int64_t d = 0; d < dim; ++d) out[d] = b.o[r * dim + d] * inv;
      }
    }
  });
  if (plan.splits == 1) return;

  // Merge the splits of each (tile, KV head): rescale every split to the overall maximum.
  pool.parallel_for(plan.num_tiles * a.num_kv_heads, [&](int64_t job, int) {
    const int64_t tile = plan.num_tiles - 1 - job / a.num_kv_heads;
    const int64_t kv_head = job % a.num_kv_heads;
    const int64_t t0 = tile * plan.tile_tokens;
    const int64_t rows = std::min(plan.tile_tokens, a.num_tokens - t0) * plan.group;
    const float* first = scratch.partials.data() + job * plan.splits * partial_stride;
    for (int64_t r = 0; r < rows; ++r) {
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t s = 0; s < plan.splits; ++s)
        mx = std::max(mx, first[s * partial_stride + plan.max_rows * dim + r]);
      const int64_t tt = r / plan.group, hh = r % plan.group;
      float* out = a.out + (t0 + tt) * a.out_stride + (kv_head * plan.group + hh) * dim;
      std::fill(out, out + dim, 0.0f);
      float sum = 0;
      for (int64_t s = 0; s < plan.splits; ++s) {
        const float* part = first + s * partial_stride;
        const float l = part[plan.max_rows * (dim + 1) + r];
        if (l == 0) continue;  // no key of this split is visible to the row
        const float w = std::exp(part[plan.max_rows * dim + r] - mx);
        sum += l * w;
        for (int64_t d = 0; d < dim; ++d) out[d] += part[r * dim + d] * w;
      }
      const float inv = sum > 0 ? 1.0f / sum : 0.0f;
      for (int64_t d = 0; d < dim; ++d) out[d] *= inv;
    }
  });
}

}  // namespace kiln::cpu
