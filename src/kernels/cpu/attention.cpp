#include "kernels/cpu/attention.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>

#include "kernels/cpu/vector_kernels.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

// NOTE: 48 rows keeps a tile's query, output and scores (~30 KB at head_dim 64) next to
// the K/V chunk in L1/L2 and gives the many-row kernel three full AVX-512 row vectors for
// SmolLM2's 3 query heads per KV head (16 tokens).
constexpr int64_t kTileRows = 48;
constexpr int64_t kMaxTileTokens = 32;
// Fewer (tile, KV head) tasks than this: split each tile's context across tasks, so that two
// threads (or more) stay busy in decode; each split keeps at least kMinSplitChunks chunks.
constexpr int64_t kTargetTasks = 16;
constexpr int64_t kMinSplitChunks = 4;

// A sequence's plan from its own shape only (its tokens, positions and the window), so
// that it is the same alone or in any batch.
AttentionPlan make_plan(const AttentionArgs& a, const AttentionSequence& seq) {
  AttentionPlan p;
  const int64_t group = a.num_heads / a.num_kv_heads;
  p.tile_tokens = std::clamp<int64_t>(kTileRows / group, 1, kMaxTileTokens);
  p.tile_tokens = std::min(p.tile_tokens, seq.num_tokens);
  p.num_tiles = (seq.num_tokens + p.tile_tokens - 1) / p.tile_tokens;
  p.max_rows = p.tile_tokens * group;
  int32_t max_pos = 0;
  for (int64_t t = seq.first_token; t < seq.first_token + seq.num_tokens; ++t)
    max_pos = std::max(max_pos, a.positions[t]);
  int64_t max_chunks = ((int64_t)max_pos + kAttendChunkKeys) / kAttendChunkKeys;
  // A window bounds the keys a tile visits: the tile's span plus the window, in chunks,
  // plus one for a start that is not chunk-aligned.
  if (a.window > 0)
    max_chunks = std::min(
        max_chunks, (a.window + p.tile_tokens - 1 + kAttendChunkKeys - 1) / kAttendChunkKeys + 1);
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

int64_t thread_floats(int64_t rows, int64_t dim) {
  return attend_query_floats(rows, dim) + rows * dim + 2 * rows + attend_chunk_work_floats(rows) +
         dim;
}

ThreadBuffers thread_buffers(float* base, int64_t rows, int64_t dim) {
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
int64_t partial_floats(const AttentionPlan& p, int64_t dim) { return p.max_rows * (dim + 2); }

// Combines the splits of one (tile, KV head), each rescaled to the overall maximum, into
// out (row r at out + (r / group) * out_stride + (r % group) * dim).
void merge_splits(const float* partials, const AttentionPlan& p, int64_t group, int64_t rows,
                  int64_t dim, float* out, int64_t out_stride) {
  const int64_t stride = partial_floats(p, dim);
  for (int64_t r = 0; r < rows; ++r) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < p.splits; ++s)
      mx = std::max(mx, partials[s * stride + p.max_rows * dim + r]);
    float* dst = out + r / group * out_stride + r % group * dim;
    std::fill(dst, dst + dim, 0.0f);
    float sum = 0;
    for (int64_t s = 0; s < p.splits; ++s) {
      const float* part = partials + s * stride;
      const float l = part[p.max_rows * (dim + 1) + r];
      if (l == 0) continue;  // no key of this split is visible to the row
      const float w = std::exp(part[p.max_rows * dim + r] - mx);
      sum += l * w;
      for (int64_t d = 0; d < dim; ++d) dst[d] += part[r * dim + d] * w;
    }
    const float inv = sum > 0 ? 1.0f / sum : 0.0f;
    for (int64_t d = 0; d < dim; ++d) dst[d] *= inv;
  }
}

// Plans every sequence and sizes the scratch for them; returns the number of tasks.
int64_t plan_batch(const AttentionArgs& a, int num_threads, AttentionScratch& scratch) {
  const int64_t dim = a.head_dim;
  scratch.plans.resize(a.num_sequences);
  int64_t tasks = 0, jobs = 0, partials = 0, max_rows = 0, next_token = 0;
  for (int64_t i = 0; i < a.num_sequences; ++i) {
    const AttentionSequence& seq = a.sequences[i];
    KILN_CHECK(seq.first_token == next_token && seq.num_tokens > 0 && seq.block_table);
    next_token += seq.num_tokens;
    AttentionPlan& p = scratch.plans[i];
    p = make_plan(a, seq);
    p.first_task = tasks;
    tasks += p.num_tasks;
    max_rows = std::max(max_rows, p.max_rows);
    if (p.splits > 1) {
      p.first_job = jobs;
      jobs += p.num_tasks / p.splits;
      p.first_partial = partials;
      partials += p.num_tasks * partial_floats(p, dim);
    }
  }
  const int64_t per_thread = thread_floats(max_rows, dim);
  // Per row: its position, then (with a window) its first visible position.
  const int64_t positions_per_thread = (a.window > 0 ? 2 : 1) * max_rows;
  scratch.thread_floats.resize(num_threads);
  scratch.thread_positions.resize(num_threads);
  for (auto& f : scratch.thread_floats)
    if ((int64_t)f.size() < per_thread) f.resize(per_thread);
  for (auto& v : scratch.thread_positions)
    if ((int64_t)v.size() < positions_per_thread) v.resize(positions_per_thread);
  if ((int64_t)scratch.partials.size() < partials) scratch.partials.resize(partials);
  scratch.splits_done.assign(jobs, 0);
  return tasks;
}

// One task: a (tile, KV head, split) of sequence `seq`, numbered `task` within it.
void run_task(const AttentionArgs& a, const VectorKernels& kern, const AttentionSequence& seq,
              const AttentionPlan& plan, int64_t task, float* thread_floats, int32_t* row_pos,
              AttentionScratch& scratch) {
  const int64_t dim = a.head_dim, bs = a.kv.block_size, group = a.num_heads / a.num_kv_heads;
  // Last tiles first: under a causal mask they have the most keys, and starting them
  // early balances the threads' loads.
  const int64_t per_tile = a.num_kv_heads * plan.splits;
  const int64_t tile = plan.num_tiles - 1 - task / per_tile;
  const int64_t kv_head = task % per_tile / plan.splits, split = task % plan.splits;
  const int64_t t0 = seq.first_token + tile * plan.tile_tokens;
  const int64_t num_tile_tokens = std::min(plan.tile_tokens, seq.first_token + seq.num_tokens - t0);
  const int64_t rows = num_tile_tokens * group;
  // NOTE: buffers are laid out for this sequence's max_rows, not the batch's, so that
  // nothing about the sequence's arithmetic depends on its neighbours.
  ThreadBuffers b = thread_buffers(thread_floats, plan.max_rows, dim);
  int32_t* row_first_pos = a.window > 0 ? row_pos + plan.max_rows : nullptr;

  int32_t tile_max_pos = 0, tile_first_pos = 0;
  for (int64_t r = 0; r < rows; ++r) {
    row_pos[r] = a.positions[t0 + r / group];
    tile_max_pos = std::max(tile_max_pos, row_pos[r]);
    if (row_first_pos) {
      row_first_pos[r] = (int32_t)std::max<int64_t>(0, (int64_t)row_pos[r] - a.window + 1);
      tile_first_pos = r == 0 ? row_first_pos[r] : std::min(tile_first_pos, row_first_pos[r]);
    }
  }
  QueryTile qt;
  qt.src = a.q + t0 * a.q_stride + kv_head * group * dim;
  qt.token_stride = a.q_stride;
  qt.group = group;
  qt.num_rows = rows;
  qt.head_dim = dim;
  qt.scale = a.scale;
  kern.load_queries(qt, b.q);
  std::fill(b.zeros, b.zeros + dim, 0.0f);

  const int64_t partial_stride = partial_floats(plan, dim);
  if (plan.splits > 1) {
    float* part = scratch.partials.data() + plan.first_partial + task * partial_stride;
    b.o = part;
    b.m = part + plan.max_rows * dim;
    b.l = b.m + plan.max_rows;
  }
  std::fill(b.o, b.o + rows * dim, 0.0f);
  std::fill(b.m, b.m + rows, -std::numeric_limits<float>::infinity());
  std::fill(b.l, b.l + rows, 0.0f);

  // This split's share of the chunks from the tile's first visible position to its last;
  // chunks above the causal diagonal of every row, or before every row's window, are
  // never visited.
  const int64_t num_keys = (int64_t)tile_max_pos + 1;
  const int64_t first_chunk = tile_first_pos / kAttendChunkKeys;
  const int64_t num_chunks = (num_keys + kAttendChunkKeys - 1) / kAttendChunkKeys - first_chunk;
  const int64_t chunk_begin = first_chunk + split * num_chunks / plan.splits;
  const int64_t chunk_end = first_chunk + (split + 1) * num_chunks / plan.splits;
  const int64_t col_bytes = kv_head * dim * kv_dtype_bytes(a.kv.dtype);

  std::array<const void*, kAttendChunkKeys> k_rows, v_rows;
  AttendChunk c;
  c.q = b.q;
  c.row_pos = row_pos;
  c.row_first_pos = row_first_pos;
  c.num_rows = rows;
  c.head_dim = dim;
  c.k_rows = k_rows.data();
  c.v_rows = v_rows.data();
  c.kv_dtype = a.kv.dtype;
  c.o = b.o;
  c.m = b.m;
  c.l = b.l;
  c.work = b.work;
  for (int64_t chunk = chunk_begin; chunk < chunk_end; ++chunk) {
    c.kv_pos = chunk * kAttendChunkKeys;
    c.num_keys = std::min(kAttendChunkKeys, num_keys - c.kv_pos);
    int64_t logical = c.kv_pos / bs, offset = c.kv_pos % bs;
    for (int64_t i = 0; i < c.num_keys; ++i) {
      const int32_t block = seq.block_table[logical];
      k_rows[i] = a.kv.k_row(block, offset) + col_bytes;
      v_rows[i] = a.kv.v_row(block, offset) + col_bytes;
      if (++offset == bs) offset = 0, ++logical;
    }
    for (int64_t i = c.num_keys; i < kAttendChunkKeys; ++i) k_rows[i] = v_rows[i] = b.zeros;
    kern.attend_chunk(c);
  }

  float* out = a.out + t0 * a.out_stride + kv_head * group * dim;
  if (plan.splits == 1) {
    for (int64_t r = 0; r < rows; ++r) {
      float* dst = out + r / group * a.out_stride + r % group * dim;
      const float inv = b.l[r] > 0 ? 1.0f / b.l[r] : 0.0f;
      for (int64_t d = 0; d < dim; ++d) dst[d] = b.o[r * dim + d] * inv;
    }
    return;
  }
  // The last split of this (tile, KV head) to finish merges them all, always in split
  // order, so which one finishes last does not matter.
  // NOTE: merging here rather than in a second parallel_for saves a barrier, which costs
  // a scheduler time slice whenever a worker is descheduled on a busy machine.
  const int64_t job = task / plan.splits;
  if (std::atomic_ref<int32_t>(scratch.splits_done[plan.first_job + job])
          .fetch_add(1, std::memory_order_acq_rel) == plan.splits - 1)
    merge_splits(scratch.partials.data() + plan.first_partial + job * plan.splits * partial_stride,
                 plan, group, rows, dim, out, a.out_stride);
}

}  // namespace

void convert_kv_row(const float* src, void* dst, int64_t n, KvDType dtype, Isa isa) {
  vector_kernels(isa).convert_kv(src, dst, n, dtype);
}

void attention(const AttentionArgs& a, ThreadPool& pool, AttentionScratch& scratch, Isa isa) {
  if (a.num_sequences <= 0) return;
  KILN_CHECK(a.num_kv_heads > 0 && a.num_heads % a.num_kv_heads == 0);
  const VectorKernels& kern = vector_kernels(isa);
  const int64_t num_tasks = plan_batch(a, pool.num_threads(), scratch);
  struct Job {
    const AttentionArgs& a;
    const VectorKernels& kern;
    AttentionScratch& scratch;
  } const job{a, kern, scratch};
  // NOTE: one captured pointer keeps the std::function in its small buffer (no allocation).
  const Job* j = &job;
  pool.parallel_for(num_tasks, [j](int64_t task, int thread) {
    // The sequence whose tasks contain `task`: the last one starting at or before it.
    const std::vector<AttentionPlan>& plans = j->scratch.plans;
    const auto p =
        std::upper_bound(plans.begin(), plans.end(), task,
                         [](int64_t t, const AttentionPlan& q) { return t < q.first_task; }) -
        1;
    run_task(j->a, j->kern, j->a.sequences[p - plans.begin()], *p, task - p->first_task,
             j->scratch.thread_floats[thread].data(), j->scratch.thread_positions[thread].data(),
             j->scratch);
  });
}

}  // namespace kiln::cpu
