// Causal attention of a run of query tokens over a sequence's KV stored in fixed-size
// blocks. The block table maps the sequence's logical block i (positions
// [i*block_size, (i+1)*block_size)) to a physical block in the layer's pool, so the
// same kernel serves one sequence now and a paged, shared pool later.
#pragma once

#include <cstdint>
#include <vector>

#include "util/cpu_features.h"
#include "util/thread_pool.h"

namespace kiln::cpu {

// One layer's KV pool: block b holds block_size rows of row_floats for K (and for V).
struct KvPoolView {
  const float* k = nullptr;
  const float* v = nullptr;
  int64_t block_size = 0;
  int64_t row_floats = 0;  // num_kv_heads * head_dim
  const float* k_row(int32_t block_id, int64_t offset) const {
    return k + ((int64_t)block_id * block_size + offset) * row_floats;
  }
  const float* v_row(int32_t block_id, int64_t offset) const {
    return v + ((int64_t)block_id * block_size + offset) * row_floats;
  }
};

struct AttentionArgs {
  const float* q = nullptr;  // [num_tokens][q_stride], head h at h * head_dim
  int64_t q_stride = 0;
  float* out = nullptr;  // [num_tokens][out_stride]
  int64_t out_stride = 0;
  const int32_t* positions = nullptr;  // query token t attends to kv positions <= positions[t]
  int64_t num_tokens = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;
  // A sliding window (Gemma's local layers): > 0, query t sees only kv positions
  // [positions[t] - window + 1, positions[t]]; 0, every position up to positions[t].
  int64_t window = 0;
  KvPoolView kv;
  const int32_t* block_table = nullptr;
};

// Buffers attention() reuses between calls: per thread a query tile and its running
// softmax state, and the partial results of a context split across tasks. They grow to the
// largest call's needs and are then reused without allocating; their size does not depend
// on the context length. One scratch serves one attention() call at a time.
struct AttentionScratch {
  std::vector<std::vector<float>> thread_floats;
  std::vector<std::vector<int32_t>> thread_positions;
  std::vector<float> partials;
  std::vector<int32_t> splits_done;  // per (tile, KV head); updated through std::atomic_ref
};

// Flash-style attention: a task takes one KV head and a tile of consecutive query tokens
// with all the query heads that share that KV head, walks the tile's keys in chunks with an
// online softmax (so K and V rows are read once per tile, not once per query head and
// token), and skips the chunks above the causal diagonal (and, with a sliding window, those
// before every row's window). When there are few tiles (decode,
// short prompts) each tile's context is also split across tasks and merged at the end.
// The split depends on the shapes only, never on the thread count, so results are the same
// bits for any number of threads. Requires num_heads % num_kv_heads == 0 and every
// positions[t] >= 0, with the K/V rows of positions [0, max positions[t]] written.
void attention(const AttentionArgs& args, ThreadPool& pool, AttentionScratch& scratch,
               Isa isa = best_isa());

}  // namespace kiln::cpu
