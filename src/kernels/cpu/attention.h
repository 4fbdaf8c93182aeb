// Causal attention of a ragged batch of sequences (each a run of query tokens) over their
// KV stored in fixed-size blocks of one pool. A sequence's block table maps its logical
// block i (positions [i*block_size, (i+1)*block_size)) to a physical block of the layer's
// pool, so one call serves a single sequence or a paged, shared pool of many.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cpu/kv_dtype.h"
#include "util/cpu_features.h"
#include "util/thread_pool.h"

namespace kiln::cpu {

// n floats to n elements of `dtype` at dst, rounding to nearest even (util/fp16.h's
// definitions); every ISA gives the same bits.
void convert_kv_row(const float* src, void* dst, int64_t n, KvDType dtype, Isa isa = best_isa());

// One layer's KV pool: block b holds block_size rows of row_elements for K (and for V).
struct KvPoolView {
  const uint8_t* k = nullptr;
  const uint8_t* v = nullptr;
  int64_t block_size = 0;
  int64_t row_elements = 0;  // num_kv_heads * head_dim
  KvDType dtype = KvDType::kF32;
  int64_t row_bytes() const { return row_elements * kv_dtype_bytes(dtype); }
  const uint8_t* k_row(int32_t block_id, int64_t offset) const {
    return k + ((int64_t)block_id * block_size + offset) * row_bytes();
  }
  const uint8_t* v_row(int32_t block_id, int64_t offset) const {
    return v + ((int64_t)block_id * block_size + offset) * row_bytes();
  }
};

// One sequence's share of the batch: query tokens [first_token, first_token + num_tokens)
// of q, out and positions; its positions are consecutive and its K/V rows for positions
// [0, its last position] are written, reachable through block_table.
struct AttentionSequence {
  int64_t first_token = 0;
  int64_t num_tokens = 0;
  const int32_t* block_table = nullptr;
};

struct AttentionArgs {
  const float* q = nullptr;  // [num_tokens][q_stride], head h at h * head_dim
  int64_t q_stride = 0;
  float* out = nullptr;  // [num_tokens][out_stride]
  int64_t out_stride = 0;
  const int32_t* positions = nullptr;  // query token t attends to kv positions <= positions[t]
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  // A sliding window (Gemma's local layers): > 0, query t sees only kv positions
  // [positions[t] - window + 1, positions[t]]; 0, every position up to positions[t].
  int64_t window = 0;
  KvPoolView kv;
  // In token order, covering the batch's tokens exactly; each non-empty.
  const AttentionSequence* sequences = nullptr;
  int64_t num_sequences = 0;
};

// How attention() divides one sequence into tasks; internal, kept in the scratch.
struct AttentionPlan {
  int64_t tile_tokens = 0;  // query tokens per tile
  int64_t num_tiles = 0;
  int64_t max_rows = 0;    // query rows of a full tile: tile_tokens * group
  int64_t splits = 0;      // tasks each (tile, KV head) context is divided into
  int64_t heads_per_task = 1;  // KV heads a task takes at once (the batch's choice)
  int64_t first_task = 0;  // the sequence's tasks: [first_task, first_task + num_tasks)
  int64_t num_tasks = 0;
  int64_t first_job = 0;      // its (tile, KV head) counters in splits_done (splits > 1)
  int64_t first_partial = 0;  // floats into partials (splits > 1)
};

// Buffers attention() reuses between calls: per thread a query tile and its running
// softmax state, the partial results of contexts split across tasks, and the per-sequence
// plans. They grow to the largest call's needs and are then reused without allocating;
// their size does not depend on the context length. One scratch serves one attention()
// call at a time.
struct AttentionScratch {
  std::vector<std::vector<float>> thread_floats;
  std::vector<std::vector<int32_t>> thread_positions;
  std::vector<std::vector<const uint8_t*>> thread_lines;  // cache lines to prefetch
  std::vector<float> partials;
  std::vector<int32_t> splits_done;  // per (tile, KV head); updated through std::atomic_ref
  std::vector<AttentionPlan> plans;
};

// Flash-style attention: a task takes one sequence's KV head and a tile of its consecutive
// query tokens with all the query heads that share that KV head, walks the tile's keys in
// chunks with an online softmax (so K and V rows are read once per tile, not once per query
// head and token), and skips the chunks above the causal diagonal (and, with a sliding
// window, those before every row's window). When a sequence has few tiles (decode, short
// prompts) each tile's context is also split across tasks and merged at the end. When the
// batch has many (tile, KV head) pairs (batched decode), a task takes all of a tile's KV
// heads, reads each K and V row whole and prefetches the rows it reads next: the KV of many
// sequences comes from DRAM, and its misses would otherwise not overlap the arithmetic.
// All sequences' tasks go to the pool in one parallel_for. A sequence's tiles and splits
// depend on its own shape only, never on the thread count or the other sequences, so its
// results are the same bits alone or in any batch, on any number of threads. Requires
// num_heads % num_kv_heads == 0 and every positions[t] >= 0.
void attention(const AttentionArgs& args, ThreadPool& pool, AttentionScratch& scratch,
               Isa isa = best_isa());

}  // namespace kiln::cpu
