#include "kernels/cpu/attention.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>

#include "kernels/cpu/vector_kernels.h"
#include "util/status.h"
#include "util/task_shares.h"

namespace kiln::cpu {
namespace {

// NOTE: 48 rows keeps a tile's query, output and scores (~30 KB at head_dim 64) next to
// the K/V chunk in L1/L2 and gives the many-row kernel three full AVX-512 row vectors for
// SmolLM2's 3 query heads per KV head (16 tokens).
constexpr int64_t kTileRows = 48;
constexpr int64_t kMaxTileTokens = 32;
// Fewer (tile, KV head) units than this: split each tile's context across tasks, so that two
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
  const int64_t units = p.num_tiles * a.num_kv_heads;  // (tile, KV head) pairs
  p.splits = 1;
  if (units < kTargetTasks)
    p.splits = std::clamp<int64_t>((kTargetTasks + units - 1) / units, 1,
                                   std::max<int64_t>(1, max_chunks / kMinSplitChunks));
  return p;
}

// A task takes up to kMaxHeadsPerTask of a tile's KV heads at once, walking their chunks
// side by side, when the batch still has kMinGroupedTasksPerThread such tasks per thread:
// in decode the heads of a sequence share each K and V row, so one task reads the rows
// whole and in order and can prefetch what it reads next, where a task per head reads a
// strided slice of every row. Which heads share a task never changes a head's arithmetic,
// so this may depend on the batch.
// NOTE: 2, not 8 (until 2026-12-06): one sequence decoding over a long context (its
// context split six ways, three KV heads) now runs as six whole-row tasks, not eighteen
// one-head ones: SmolLM2 decode at depth 4096 went from 86-99 to 118-122 tokens/s, at 1024
// from 155-184 to 198-232 (2 threads); the task shares keep two tasks a thread balanced.
constexpr int64_t kMaxHeadsPerTask = 8;
constexpr int64_t kMinGroupedTasksPerThread = 2;

// Per-thread floats: a zero row and the kernel's work buffer, then per head of the task its
// query tile, output, max and sum.
struct HeadBuffers {
  float *q, *o, *m, *l;
};

int64_t head_floats(int64_t rows, int64_t dim) {
  return attend_query_floats(rows, dim) + rows * dim + 2 * rows;
}

int64_t thread_floats(int64_t rows, int64_t dim, int64_t heads) {
  return dim + attend_chunk_work_floats(rows) + heads * head_floats(rows, dim);
}

HeadBuffers head_buffers(float* base, int64_t rows, int64_t dim, int64_t head) {
  HeadBuffers b;
  b.q = base + dim + attend_chunk_work_floats(rows) + head * head_floats(rows, dim);
  b.o = b.q + attend_query_floats(rows, dim);
  b.m = b.o + rows * dim;
  b.l = b.m + rows;
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

// Plans every sequence, chooses how many heads a task takes, and sizes the scratch;
// returns the number of tasks.
int64_t plan_batch(const AttentionArgs& a, int num_threads, AttentionScratch& scratch) {
  const int64_t dim = a.head_dim;
  scratch.plans.resize(a.num_sequences);
  int64_t units = 0, jobs = 0, partials = 0, max_rows = 0, next_token = 0;
  for (int64_t i = 0; i < a.num_sequences; ++i) {
    const AttentionSequence& seq = a.sequences[i];
    KILN_CHECK(seq.first_token == next_token && seq.num_tokens > 0 && seq.block_table);
    next_token += seq.num_tokens;
    AttentionPlan& p = scratch.plans[i];
    p = make_plan(a, seq);
    units += p.num_tiles * a.num_kv_heads * p.splits;
    max_rows = std::max(max_rows, p.max_rows);
    if (p.splits > 1) {
      p.first_job = jobs;
      jobs += p.num_tiles * a.num_kv_heads;
      p.first_partial = partials;
      partials += p.num_tiles * a.num_kv_heads * p.splits * partial_floats(p, dim);
    }
  }
  const int64_t group_heads = std::min(a.num_kv_heads, kMaxHeadsPerTask);
  const int64_t heads =
      units >= kMinGroupedTasksPerThread * group_heads * num_threads ? group_heads : 1;
  int64_t tasks = 0;
  for (AttentionPlan& p : scratch.plans) {
    p.heads_per_task = heads;
    p.first_task = tasks;
    p.num_tasks = p.num_tiles * ((a.num_kv_heads + heads - 1) / heads) * p.splits;
    tasks += p.num_tasks;
  }
  const int64_t per_thread = thread_floats(max_rows, dim, heads);
  // Per row: its position, then (with a window) its first visible position.
  const int64_t positions_per_thread = (a.window > 0 ? 2 : 1) * max_rows;
  scratch.thread_floats.resize(num_threads);
  scratch.thread_positions.resize(num_threads);
  scratch.thread_lines.resize(num_threads);
  // A chunk's K and V rows, whole, in cache lines.
  const int64_t lines_per_thread = 2 * kAttendChunkKeys * ((a.kv.row_bytes() + 63) / 64);
  for (auto& l : scratch.thread_lines)
    if ((int64_t)l.size() < lines_per_thread) l.resize(lines_per_thread);
  for (auto& f : scratch.thread_floats)
    if ((int64_t)f.size() < per_thread) f.resize(per_thread);
  for (auto& v : scratch.thread_positions)
    if ((int64_t)v.size() < positions_per_thread) v.resize(positions_per_thread);
  if ((int64_t)scratch.partials.size() < partials) scratch.partials.resize(partials);
  scratch.splits_done.assign(jobs, 0);
  return tasks;
}

// What a task covers: a (tile, group of KV heads, split) of one sequence.
struct TaskShape {
  int64_t tile_order = 0;  // tiles are run last first
  int64_t t0 = 0;          // the tile's first query token
  int64_t rows = 0;        // its query rows: tokens x group
  int64_t first_head = 0, num_heads = 0, split = 0;
  int64_t num_keys = 0;  // keys [0, num_keys) bound every row's view
  int64_t chunk_begin = 0, chunk_end = 0;
};

TaskShape task_shape(const AttentionArgs& a, const AttentionSequence& seq,
                     const AttentionPlan& plan, int64_t task) {
  const int64_t group = a.num_heads / a.num_kv_heads, hpt = plan.heads_per_task;
  // Last tiles first: under a causal mask they have the most keys, and starting them
  // early balances the threads' loads.
  const int64_t per_tile = (a.num_kv_heads + hpt - 1) / hpt * plan.splits;
  TaskShape s;
  s.tile_order = task / per_tile;
  s.first_head = task % per_tile / plan.splits * hpt;
  s.num_heads = std::min(hpt, a.num_kv_heads - s.first_head);
  s.split = task % plan.splits;
  s.t0 = seq.first_token + (plan.num_tiles - 1 - s.tile_order) * plan.tile_tokens;
  const int64_t tokens = std::min(plan.tile_tokens, seq.first_token + seq.num_tokens - s.t0);
  s.rows = tokens * group;
  int64_t max_pos = 0, first_pos = 0;
  for (int64_t t = s.t0; t < s.t0 + tokens; ++t) {
    max_pos = std::max<int64_t>(max_pos, a.positions[t]);
    const int64_t first = a.window > 0 ? std::max<int64_t>(0, a.positions[t] - a.window + 1) : 0;
    first_pos = t == s.t0 ? first : std::min(first_pos, first);
  }
  // This split's share of the chunks from the tile's first visible position to its last;
  // chunks above the causal diagonal of every row, or before every row's window, are
  // never visited.
  s.num_keys = max_pos + 1;
  const int64_t first_chunk = first_pos / kAttendChunkKeys;
  const int64_t num_chunks = (s.num_keys + kAttendChunkKeys - 1) / kAttendChunkKeys - first_chunk;
  s.chunk_begin = first_chunk + s.split * num_chunks / plan.splits;
  s.chunk_end = first_chunk + (s.split + 1) * num_chunks / plan.splits;
  return s;
}

// The cache lines of the whole K and V rows (every head's columns) of keys
// [first_key, first_key + n) of a sequence, into lines; returns their number.
int64_t kv_lines(const KvPoolView& kv, const int32_t* block_table, int64_t first_key, int64_t n,
                 const uint8_t** lines) {
  int64_t count = 0;
  for (int64_t key = first_key; key < first_key + n; ++key) {
    const int32_t block = block_table[key / kv.block_size];
    const uint8_t* k = kv.k_row(block, key % kv.block_size);
    const uint8_t* v = kv.v_row(block, key % kv.block_size);
    for (int64_t b = 0; b < kv.row_bytes(); b += 64) {
      lines[count++] = k + b;
      lines[count++] = v + b;
    }
  }
  return count;
}

// The first chunk of the task numbered after this one, for prefetching: with the tasks in
// contiguous shares per thread (util/task_shares.h), usually the one this thread takes
// next. Its sequence's block table and keys; null block_table: none.
struct NextTask {
  const int32_t* block_table = nullptr;
  int64_t first_key = 0, num_keys = 0;
};

// One task: a (tile, group of KV heads, split) of sequence `seq`, numbered `task` within it.
// Each head of the group is the unit (tile, KV head, split) it would be alone: the same
// chunks in the same order, into its own output or partial.
void run_task(const AttentionArgs& a, const VectorKernels& kern, const AttentionSequence& seq,
              const AttentionPlan& plan, const TaskShape& shape, const NextTask& next,
              float* thread_floats, int32_t* row_pos, const uint8_t** lines,
              AttentionScratch& scratch) {
  const int64_t dim = a.head_dim, bs = a.kv.block_size, group = a.num_heads / a.num_kv_heads;
  const int64_t rows = shape.rows, num_heads = shape.num_heads, t0 = shape.t0;
  int32_t* row_first_pos = a.window > 0 ? row_pos + plan.max_rows : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    row_pos[r] = a.positions[t0 + r / group];
    if (row_first_pos)
      row_first_pos[r] = (int32_t)std::max<int64_t>(0, (int64_t)row_pos[r] - a.window + 1);
  }
  // NOTE: buffers are laid out for this sequence's max_rows, not the batch's, so that
  // nothing about the sequence's arithmetic depends on its neighbours.
  float* zeros = thread_floats;
  float* work = zeros + dim;
  std::fill(zeros, zeros + dim, 0.0f);
  const int64_t partial_stride = partial_floats(plan, dim);
  std::array<HeadBuffers, kMaxHeadsPerTask> heads;
  for (int64_t i = 0; i < num_heads; ++i) {
    HeadBuffers& b = heads[i];
    b = head_buffers(thread_floats, plan.max_rows, dim, i);
    QueryTile qt;
    qt.src = a.q + t0 * a.q_stride + (shape.first_head + i) * group * dim;
    qt.token_stride = a.q_stride;
    qt.group = group;
    qt.num_rows = rows;
    qt.head_dim = dim;
    qt.scale = a.scale;
    kern.load_queries(qt, b.q);
    if (plan.splits > 1) {
      const int64_t unit =
          (shape.tile_order * a.num_kv_heads + shape.first_head + i) * plan.splits + shape.split;
      float* part = scratch.partials.data() + plan.first_partial + unit * partial_stride;
      b.o = part;
      b.m = part + plan.max_rows * dim;
      b.l = b.m + plan.max_rows;
    }
    std::fill(b.o, b.o + rows * dim, 0.0f);
    std::fill(b.m, b.m + rows, -std::numeric_limits<float>::infinity());
    std::fill(b.l, b.l + rows, 0.0f);
  }

  // A task that reads its rows whole (every KV head) prefetches what it reads next: the
  // next chunk, or after its last the first chunk of the next task. The lines are handed
  // to the kernel a share per head, which spreads them over the chunk's keys: a burst of
  // hundreds is mostly dropped once the core's miss buffers are full.
  const bool prefetch = kern.prefetches && num_heads == a.num_kv_heads;
  const int64_t elem_bytes = kv_dtype_bytes(a.kv.dtype);
  std::array<const uint8_t*, kAttendChunkKeys> k_base, v_base;
  std::array<const void*, kAttendChunkKeys> k_rows, v_rows;
  AttendChunk c;
  c.row_pos = row_pos;
  c.row_first_pos = row_first_pos;
  c.num_rows = rows;
  c.head_dim = dim;
  c.k_rows = k_rows.data();
  c.v_rows = v_rows.data();
  c.kv_dtype = a.kv.dtype;
  c.work = work;
  for (int64_t chunk = shape.chunk_begin; chunk < shape.chunk_end; ++chunk) {
    c.kv_pos = chunk * kAttendChunkKeys;
    c.num_keys = std::min(kAttendChunkKeys, shape.num_keys - c.kv_pos);
    int64_t num_lines = 0;
    if (prefetch && chunk + 1 < shape.chunk_end) {
      const int64_t first = c.kv_pos + kAttendChunkKeys;
      num_lines = kv_lines(a.kv, seq.block_table, first,
                           std::min(kAttendChunkKeys, shape.num_keys - first), lines);
    } else if (prefetch && next.block_table != nullptr) {
      num_lines = kv_lines(a.kv, next.block_table, next.first_key, next.num_keys, lines);
    }
    const int64_t per_head = (num_lines + num_heads - 1) / num_heads;
    int64_t logical = c.kv_pos / bs, offset = c.kv_pos % bs;
    for (int64_t i = 0; i < c.num_keys; ++i) {
      const int32_t block = seq.block_table[logical];
      k_base[i] = a.kv.k_row(block, offset);
      v_base[i] = a.kv.v_row(block, offset);
      if (++offset == bs) offset = 0, ++logical;
    }
    for (int64_t i = c.num_keys; i < kAttendChunkKeys; ++i) k_rows[i] = v_rows[i] = zeros;
    for (int64_t h = 0; h < num_heads; ++h) {
      const int64_t col_bytes = (shape.first_head + h) * dim * elem_bytes;
      for (int64_t i = 0; i < c.num_keys; ++i) {
        k_rows[i] = k_base[i] + col_bytes;
        v_rows[i] = v_base[i] + col_bytes;
      }
      c.q = heads[h].q;
      c.o = heads[h].o;
      c.m = heads[h].m;
      c.l = heads[h].l;
      const int64_t first_line = std::min(num_lines, h * per_head);
      c.prefetch = lines + first_line;
      c.prefetch_count = std::min(num_lines, first_line + per_head) - first_line;
      kern.attend_chunk(c);
    }
  }

  for (int64_t h = 0; h < num_heads; ++h) {
    const HeadBuffers& b = heads[h];
    const int64_t kv_head = shape.first_head + h;
    float* out = a.out + t0 * a.out_stride + kv_head * group * dim;
    if (plan.splits == 1) {
      for (int64_t r = 0; r < rows; ++r) {
        float* dst = out + r / group * a.out_stride + r % group * dim;
        const float inv = b.l[r] > 0 ? 1.0f / b.l[r] : 0.0f;
        for (int64_t d = 0; d < dim; ++d) dst[d] = b.o[r * dim + d] * inv;
      }
      continue;
    }
    // The last split of this (tile, KV head) to finish merges them all, always in split
    // order, so which one finishes last does not matter.
    // NOTE: merging here rather than in a second parallel_for saves a barrier, which costs
    // a scheduler time slice whenever a worker is descheduled on a busy machine.
    const int64_t job = shape.tile_order * a.num_kv_heads + kv_head;
    if (std::atomic_ref<int32_t>(scratch.splits_done[plan.first_job + job])
            .fetch_add(1, std::memory_order_acq_rel) == plan.splits - 1)
      merge_splits(
          scratch.partials.data() + plan.first_partial + job * plan.splits * partial_stride, plan,
          group, rows, dim, out, a.out_stride);
  }
}

// The sequence whose tasks contain `task`: the last one starting at or before it.
int64_t sequence_of(const std::vector<AttentionPlan>& plans, int64_t task) {
  return std::upper_bound(plans.begin(), plans.end(), task,
                          [](int64_t t, const AttentionPlan& q) { return t < q.first_task; }) -
         plans.begin() - 1;
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
  // Each thread walks a contiguous share of the tasks (util/task_shares.h), so the task
  // after its current one, whose first chunk it prefetches, is usually its own next.
  TaskShares shares;
  const bool use_shares = pool.num_threads() > 1 && shares.init(num_tasks, pool.num_threads());
  struct Job {
    const AttentionArgs& a;
    const VectorKernels& kern;
    AttentionScratch& scratch;
    int64_t num_tasks;
    TaskShares* shares;
  } const job{a, kern, scratch, num_tasks, use_shares ? &shares : nullptr};
  // NOTE: one captured pointer keeps the std::function in its small buffer (no allocation).
  const Job* j = &job;
  pool.parallel_for(num_tasks, [j](int64_t task, int thread) {
    if (j->shares != nullptr) task = j->shares->take(thread);
    const AttentionArgs& a = j->a;
    const std::vector<AttentionPlan>& plans = j->scratch.plans;
    const int64_t i = sequence_of(plans, task);
    const TaskShape shape = task_shape(a, a.sequences[i], plans[i], task - plans[i].first_task);
    // The task after this one, when its rows are read whole too: its first chunk is
    // prefetched during this task's last.
    NextTask next;
    if (j->kern.prefetches && task + 1 < j->num_tasks &&
        plans[i].heads_per_task == a.num_kv_heads) {
      const int64_t n = sequence_of(plans, task + 1);
      const TaskShape s = task_shape(a, a.sequences[n], plans[n], task + 1 - plans[n].first_task);
      if (s.chunk_begin < s.chunk_end) {
        next.block_table = a.sequences[n].block_table;
        next.first_key = s.chunk_begin * kAttendChunkKeys;
        next.num_keys = std::min(kAttendChunkKeys, s.num_keys - next.first_key);
      }
    }
    run_task(a, j->kern, a.sequences[i], plans[i], shape, next,
             j->scratch.thread_floats[thread].data(), j->scratch.thread_positions[thread].data(),
             j->scratch.thread_lines[thread].data(), j->scratch);
  });
}

}  // namespace kiln::cpu
