// Float vector loops of the layer operations (attention over rows of a KV block, the
// softmax exponent, the SwiGLU activation), per instruction set. Internal to kernels/cpu;
// exposed for the SIMD-vs-scalar tests.
#pragma once

#include <cstdint>

#include "kernels/cpu/kv_dtype.h"
#include "util/cpu_features.h"

namespace kiln::cpu {

// Keys one attend_chunk call takes: two AVX-512 vectors of scores per query row.
inline constexpr int64_t kAttendChunkKeys = 32;

// A tile of query rows: the query heads of one KV group for a run of tokens. Row r is
// head (r % group) of token (r / group), at src + (r / group) * token_stride + (r % group) *
// head_dim.
struct QueryTile {
  const float* src = nullptr;
  int64_t token_stride = 0;
  int64_t group = 0;
  int64_t num_rows = 0;
  int64_t head_dim = 0;
  float scale = 1.0f;  // the softmax scale, folded into the queries
};

inline int64_t attend_rows_padded(int64_t num_rows) { return (num_rows + 15) / 16 * 16; }

// Floats of the buffer load_queries fills (its layout is each ISA's own).
inline int64_t attend_query_floats(int64_t num_rows, int64_t head_dim) {
  return attend_rows_padded(num_rows) * head_dim;
}

// One step of flash attention: a query tile against up to kAttendChunkKeys consecutive KV
// positions of the group's KV head, updating each row's running max m, running sum l and
// unnormalised output o in place (online softmax). Start a row with m = -inf, l = 0, o = 0;
// its result is o / l.
struct AttendChunk {
  const float* q = nullptr;          // the tile as load_queries of the same ISA laid it out
  const int32_t* row_pos = nullptr;  // [num_rows]: row r sees kv positions <= row_pos[r]
  // [num_rows], or null: row r sees kv positions >= row_first_pos[r] (a sliding window).
  // Null: every position from 0.
  const int32_t* row_first_pos = nullptr;
  int64_t num_rows = 0;
  int64_t head_dim = 0;
  int64_t kv_pos = 0;    // kv position of key 0
  int64_t num_keys = 0;  // in [1, kAttendChunkKeys]
  // Key c's K and V rows (head_dim elements of kv_dtype each). All kAttendChunkKeys entries
  // are valid pointers: those at or past num_keys point at a row of zeros (at least
  // head_dim floats) and contribute nothing.
  const void* const* k_rows = nullptr;
  const void* const* v_rows = nullptr;
  KvDType kv_dtype = KvDType::kF32;
  float* o = nullptr;     // [num_rows][head_dim]
  float* m = nullptr;     // [num_rows]
  float* l = nullptr;     // [num_rows]
  float* work = nullptr;  // attend_chunk_work_floats(num_rows) floats, any contents
  // Cache lines to prefetch while the chunk runs, spread over its keys (hints only, and
  // only where VectorKernels::prefetches).
  const uint8_t* const* prefetch = nullptr;
  int64_t prefetch_count = 0;
};

// Scores or probabilities for every (row, key) and a rescale factor per row.
inline int64_t attend_chunk_work_floats(int64_t num_rows) {
  return attend_rows_padded(num_rows) * (kAttendChunkKeys + 1);
}

struct VectorKernels {
  // out[i] = dot(q, k + i * k_stride) * scale over dim floats, for i < num_rows.
  void (*dot_rows)(const float* q, const float* k, int64_t k_stride, int64_t num_rows, int64_t dim,
                   float scale, float* out);
  // out[d] += sum_i p[i] * v[i * v_stride + d], for d < dim.
  void (*axpy_rows)(const float* p, const float* v, int64_t v_stride, int64_t num_rows, int64_t dim,
                    float* out);
  // x[i] = exp(x[i] - max) in place; returns the sum of the results.
  float (*exp_sum)(float* x, int64_t n, float max);
  // gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  // Flash attention of a query tile (see AttendChunk): load_queries once per tile into a
  // buffer of attend_query_floats(), then attend_chunk per chunk of keys. The scalar
  // versions are the definition; the others match them to rounding (exp to ~1 ulp, sums
  // reassociated).
  void (*load_queries)(const QueryTile& tile, float* q);
  void (*attend_chunk)(const AttendChunk& chunk);
  // n floats to n elements of dtype at dst, rounded to nearest even: the same bits on
  // every ISA.
  void (*convert_kv)(const float* src, void* dst, int64_t n, KvDType dtype);
  // Whether attend_chunk issues AttendChunk::prefetch (callers skip listing the lines
  // otherwise). Only the AVX-512 kernel does: on AVX2 it measured no gain.
  bool prefetches = false;
};

// Best available at or below isa.
const VectorKernels& vector_kernels(Isa isa);

const VectorKernels* vector_kernels_scalar();
const VectorKernels* vector_kernels_avx2();
const VectorKernels* vector_kernels_avx512();

}  // namespace kiln::cpu
