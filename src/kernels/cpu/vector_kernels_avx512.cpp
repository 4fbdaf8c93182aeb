#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {
namespace {

#define VF __m512
#define VI __m512i
#define SET1(f) _mm512_set1_ps(f)
#define SET1_I(i) _mm512_set1_epi32(i)
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define MUL(a, b) _mm512_mul_ps(a, b)
#define ADD(a, b) _mm512_add_ps(a, b)
#define MAX(a, b) _mm512_max_ps(a, b)
#define ROUND(x) _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVT_I(x) _mm512_cvtps_epi32(x)
#define SHL23(i) _mm512_slli_epi32(i, 23)
#define ADD_I(a, b) _mm512_add_epi32(a, b)
#define CAST_F(i) _mm512_castsi512_ps(i)
#include "kernels/cpu/simd_exp.inc"

inline float dot(const float* a, const float* b, int64_t dim) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t d = 0;
  for (; d + 32 <= dim; d += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + d), _mm512_loadu_ps(b + d), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + d + 16), _mm512_loadu_ps(b + d + 16), acc1);
  }
  for (; d + 16 <= dim; d += 16)
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + d), _mm512_loadu_ps(b + d), acc0);
  if (d < dim) {
    const __mmask16 m = (__mmask16)((1u << (dim - d)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + d), _mm512_maskz_loadu_ps(m, b + d), acc1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void dot_rows(const float* q, const float* k, int64_t k_stride, int64_t num_rows, int64_t dim,
              float scale, float* out) {
  for (int64_t i = 0; i < num_rows; ++i) out[i] = dot(q, k + i * k_stride, dim) * scale;
}

void axpy_rows(const float* p, const float* v, int64_t v_stride, int64_t num_rows, int64_t dim,
               float* out) {
  int64_t d = 0;
  for (; d + 16 <= dim; d += 16) {
    __m512 acc = _mm512_loadu_ps(out + d);
    for (int64_t i = 0; i < num_rows; ++i)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_loadu_ps(v + i * v_stride + d), acc);
    _mm512_storeu_ps(out + d, acc);
  }
  if (d < dim) {
    const __mmask16 m = (__mmask16)((1u << (dim - d)) - 1);
    __m512 acc = _mm512_maskz_loadu_ps(m, out + d);
    for (int64_t i = 0; i < num_rows; ++i)
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_maskz_loadu_ps(m, v + i * v_stride + d),
                            acc);
    _mm512_mask_storeu_ps(out + d, m, acc);
  }
}

float exp_sum(float* x, int64_t n, float max) {
  const __m512 vmax = _mm512_set1_ps(max);
  __m512 sum = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = vec_exp(_mm512_sub_ps(_mm512_loadu_ps(x + i), vmax));
    _mm512_storeu_ps(x + i, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    const __m512 e = vec_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(sum);
}

// exp(-g) overflows to inf for g < -88, where silu correctly tends to -0; vec_exp clamps
// its argument from below only, so compute exp(-|g|) and pick the matching form.
inline __m512 silu(__m512 g) {
  const __m512 abs_g = _mm512_abs_ps(g);
  const __m512 e = vec_exp(_mm512_sub_ps(_mm512_setzero_ps(), abs_g));  // exp(-|g|) in (0, 1]
  const __m512 one = _mm512_set1_ps(1.0f);
  // g >= 0: g / (1 + e);  g < 0: g * e / (1 + e)
  const __m512 r = _mm512_div_ps(g, _mm512_add_ps(one, e));
  const __mmask16 neg = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_mul_ps(r, neg, r, e);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(gate + i,
                     _mm512_mul_ps(silu(_mm512_loadu_ps(gate + i)), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    const __m512 r =
        _mm512_mul_ps(silu(_mm512_maskz_loadu_ps(m, gate + i)), _mm512_maskz_loadu_ps(m, up + i));
    _mm512_mask_storeu_ps(gate + i, m, r);
  }
}

// ---- load_queries, attend_chunk ----

// NOTE: past eight rows a vector of rows per key (the tile transposed) wastes less than the
// horizontal sums of the row-per-vector layout cost.
constexpr int64_t kByKeyMinRows = 9;

inline __mmask16 low_mask(int64_t n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// Sixteen elements of a stored K or V row from element d, as floats; lanes outside m are
// zero and not read.
template <KvDType D>
inline __m512 load_kv(const void* row, int64_t d, __mmask16 m) {
  if constexpr (D == KvDType::kF32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + d);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + d);
    if constexpr (D == KvDType::kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <KvDType D>
inline __m512 load_kv(const void* row, int64_t d) {
  if constexpr (D == KvDType::kF32) {
    return _mm512_loadu_ps(static_cast<const float*>(row) + d);
  } else {
    const __m256i h =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + d));
    if constexpr (D == KvDType::kF16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

// Sixteen vectors to one vector of their sums: lane i = sum of v[i]'s lanes.
inline __m512 reduce16(const __m512 (&v)[16]) {
  __m512 t[8], u[4], w[2];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: [a b a b] partial sums of v[2i], v[2i+1]
    t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // per 128-bit lane: one partial sum of each of 4 vectors
    u[i] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(t[2 * i], t[2 * i + 1], 0xee));
  for (int i = 0; i < 2; ++i)  // 128-bit lanes: vectors 0-3 twice, then 4-7 twice
    w[i] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * i], u[2 * i + 1], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w[0], w[1], 0x88),
                       _mm512_shuffle_f32x4(w[0], w[1], 0xdd));
}

// A query row as NV vectors along head_dim, the last masked by `tail`.
template <int NV>
inline void load_query(const float* q, __mmask16 tail, __m512 (&qv)[NV]) {
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j)
    qv[j] = j + 1 < NV ? _mm512_loadu_ps(q + 16 * j) : _mm512_maskz_loadu_ps(tail, q + 16 * j);
}

// s[r][c] = q_r . k_c with vectors along head_dim (NV of them, the last masked by `tail`),
// sixteen keys reduced at a time; for few rows, where a vector of rows would be mostly
// empty. Keys past num_keys are zero rows, so their scores are zeros (masked later).
template <KvDType D, int NV>
void scores_by_row(const AttendChunk& a, float* s, __mmask16 tail) {
  const int halves = a.num_keys > 16 ? 2 : 1;
  for (int64_t r = 0; r < a.num_rows; ++r) {
    __m512 qv[NV];
    load_query<NV>(a.q + r * a.head_dim, tail, qv);
    for (int half = 0; half < halves; ++half) {
      __m512 acc[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const void* k = a.k_rows[16 * half + i];
        __m512 x = _mm512_mul_ps(qv[0], load_kv<D>(k, 0, NV == 1 ? tail : 0xffff));
#pragma GCC unroll 8
        for (int j = 1; j < NV; ++j)
          x = _mm512_fmadd_ps(qv[j],
                              j + 1 < NV ? load_kv<D>(k, 16 * j) : load_kv<D>(k, 16 * j, tail), x);
        acc[i] = x;
      }
      _mm512_storeu_ps(s + r * kAttendChunkKeys + 16 * half, reduce16(acc));
    }
  }
}

// The same for several rows of a stored (F16 or BF16) KV: each half's sixteen K rows are
// converted to floats once, into a stack tile the rows then read (a decode step's query
// heads of one KV group; converting per row was a quarter of the scores' instructions).
// Each score is the same sequence of operations as in scores_by_row, so the same bits.
template <KvDType D, int NV>
void scores_by_row_shared_k(const AttendChunk& a, float* s, __mmask16 tail) {
  alignas(64) float kf[16][NV * 16];
  const int halves = a.num_keys > 16 ? 2 : 1;
  for (int half = 0; half < halves; ++half) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      const void* k = a.k_rows[16 * half + i];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j)
        _mm512_store_ps(&kf[i][16 * j], j + 1 < NV ? load_kv<D>(k, 16 * j)
                                                   : load_kv<D>(k, 16 * j, tail));
    }
    for (int64_t r = 0; r < a.num_rows; ++r) {
      __m512 qv[NV];
      load_query<NV>(a.q + r * a.head_dim, tail, qv);
      __m512 acc[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        __m512 x = _mm512_mul_ps(qv[0], _mm512_load_ps(&kf[i][0]));
#pragma GCC unroll 8
        for (int j = 1; j < NV; ++j) x = _mm512_fmadd_ps(qv[j], _mm512_load_ps(&kf[i][16 * j]), x);
        acc[i] = x;
      }
      _mm512_storeu_ps(s + r * kAttendChunkKeys + 16 * half, reduce16(acc));
    }
  }
}

template <KvDType D, int NV>
void scores_rows(const AttendChunk& a, float* s, __mmask16 tail) {
  if (D != KvDType::kF32 && a.num_rows > 1)
    scores_by_row_shared_k<D, NV>(a, s, tail);
  else
    scores_by_row<D, NV>(a, s, tail);
}

// The same for any head_dim, the query row loaded for every key.
template <KvDType D>
void scores_by_row_any(const AttendChunk& a, float* s) {
  const int64_t dim = a.head_dim, full = dim / 16 * 16;
  const __mmask16 tail = low_mask(dim - full);
  const int halves = a.num_keys > 16 ? 2 : 1;
  for (int64_t r = 0; r < a.num_rows; ++r) {
    const float* q = a.q + r * dim;
    for (int half = 0; half < halves; ++half) {
      __m512 acc[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        const void* k = a.k_rows[16 * half + i];
        __m512 x = _mm512_setzero_ps();
        for (int64_t d = 0; d < full; d += 16)
          x = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), load_kv<D>(k, d), x);
        acc[i] =
            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full), load_kv<D>(k, full, tail), x);
      }
      _mm512_storeu_ps(s + r * kAttendChunkKeys + 16 * half, reduce16(acc));
    }
  }
}

// In place: r[i] lane j becomes r[j] lane i.
inline void transpose16(__m512 (&r)[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {  // rows 2i, 2i+1 interleaved per 128-bit lane
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + k] lane L: column 4L + k of rows 4i..4i+3
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int k = 0; k < 4; ++k) {  // a 4x4 transpose of 128-bit lanes for each k
    const __m512 x0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x44);
    const __m512 x1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xee);
    const __m512 y0 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x44);
    const __m512 y1 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xee);
    t[k] = _mm512_shuffle_f32x4(x0, y0, 0x88);
    t[4 + k] = _mm512_shuffle_f32x4(x0, y0, 0xdd);
    t[8 + k] = _mm512_shuffle_f32x4(x1, y1, 0x88);
    t[12 + k] = _mm512_shuffle_f32x4(x1, y1, 0xdd);
  }
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Few rows: row-major q[r][d]. Many: transposed, q[d][r] over attend_rows_padded rows with
// zeros past num_rows.
void load_queries(const QueryTile& t, float* q) {
  const int64_t dim = t.head_dim;
  const __m512 scale = _mm512_set1_ps(t.scale);
  auto row = [&](int64_t r) { return t.src + r / t.group * t.token_stride + r % t.group * dim; };
  if (t.num_rows < kByKeyMinRows) {
    for (int64_t r = 0; r < t.num_rows; ++r)
      for (int64_t d = 0; d < dim; d += 16) {
        const __mmask16 m = low_mask(dim - d);
        _mm512_mask_storeu_ps(q + r * dim + d, m,
                              _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, row(r) + d)));
      }
    return;
  }
  const int64_t padded = attend_rows_padded(t.num_rows);
  for (int64_t r0 = 0; r0 < padded; r0 += 16) {
    for (int64_t d0 = 0; d0 < dim; d0 += 16) {
      const __mmask16 m = low_mask(dim - d0);
      __m512 x[16];
      for (int i = 0; i < 16; ++i)
        x[i] = r0 + i < t.num_rows
                   ? _mm512_mul_ps(scale, _mm512_maskz_loadu_ps(m, row(r0 + i) + d0))
                   : _mm512_setzero_ps();
      transpose16(x);
      for (int64_t i = 0; i < std::min<int64_t>(16, dim - d0); ++i)
        _mm512_storeu_ps(q + (d0 + i) * padded + r0, x[i]);
    }
  }
}

// acc[i][j] += k_i[d] * q rows (vector j) for d in [d0, d_end), keys' elements broadcast
// from k (four float rows, element d at k_i + d).
template <int RV>
inline void key_block_steps(const float* qt, int64_t padded, const float* const (&k)[4],
                            int64_t k_first, int64_t d0, int64_t d_end, __m512 (&acc)[4][RV]) {
  // k[i][d - k_first] is element d of key i (k_first: the first element k[i] holds).
  for (int64_t d = d0; d < d_end; ++d) {
    __m512 qv[RV];
#pragma GCC unroll 4
    for (int j = 0; j < RV; ++j) qv[j] = _mm512_loadu_ps(qt + d * padded + 16 * j);
    const int64_t e = d - k_first;
    const __m512 b0 = _mm512_set1_ps(k[0][e]), b1 = _mm512_set1_ps(k[1][e]);
    const __m512 b2 = _mm512_set1_ps(k[2][e]), b3 = _mm512_set1_ps(k[3][e]);
#pragma GCC unroll 4
    for (int j = 0; j < RV; ++j) {
      acc[0][j] = _mm512_fmadd_ps(b0, qv[j], acc[0][j]);
      acc[1][j] = _mm512_fmadd_ps(b1, qv[j], acc[1][j]);
      acc[2][j] = _mm512_fmadd_ps(b2, qv[j], acc[2][j]);
      acc[3][j] = _mm512_fmadd_ps(b3, qv[j], acc[3][j]);
    }
  }
}

// st[c][r] = q_r . k_c with a vector of sixteen rows (of the transposed tile) per key and
// the key's elements broadcast: no horizontal sums. RV row vectors from rv0, keys in fours.
// NOTE: 16-bit keys are converted sixteen elements at a time into a small stack tile and
// broadcast from there, a load each, rather than converted element by element.
template <KvDType D, int RV>
void scores_by_key_block(const AttendChunk& a, float* st, int64_t padded, int64_t rv0) {
  const int64_t dim = a.head_dim;
  const float* qt = a.q + 16 * rv0;
  const int64_t key_blocks = (a.num_keys + 3) / 4;
  for (int64_t kb = 0; kb < key_blocks; ++kb) {
    __m512 acc[4][RV];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RV; ++j) acc[i][j] = _mm512_setzero_ps();
    if constexpr (D == KvDType::kF32) {
      const float* const k[4] = {static_cast<const float*>(a.k_rows[4 * kb]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 1]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 2]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 3])};
      key_block_steps<RV>(qt, padded, k, 0, 0, dim, acc);
    } else {
      alignas(64) float tile[4][16];
      for (int64_t d0 = 0; d0 < dim; d0 += 16) {
        const __mmask16 m = low_mask(dim - d0);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i)
          _mm512_store_ps(tile[i], load_kv<D>(a.k_rows[4 * kb + i], d0, m));
        // NOTE: tile[i] holds elements d0.. of key i; a pointer tile[i] - d0 indexed by d would
        // point before the array (undefined behaviour, which clang's UBSan reports).
        const float* const k[4] = {tile[0], tile[1], tile[2], tile[3]};
        key_block_steps<RV>(qt, padded, k, d0, d0, std::min<int64_t>(dim, d0 + 16), acc);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RV; ++j)
        _mm512_storeu_ps(st + (4 * kb + i) * padded + 16 * (rv0 + j), acc[i][j]);
  }
}

template <KvDType D>
void scores_by_key(const AttendChunk& a, float* st, int64_t padded) {
  const int64_t vecs = padded / 16;
  int64_t rv = 0;
  for (; rv + 3 <= vecs; rv += 3) scores_by_key_block<D, 3>(a, st, padded, rv);
  if (vecs - rv == 2) scores_by_key_block<D, 2>(a, st, padded, rv);
  if (vecs - rv == 1) scores_by_key_block<D, 1>(a, st, padded, rv);
}

// Online softmax over scores laid out [key][row], sixteen rows per vector: the maximum and
// the sums are lane-wise. p replaces st (zeros where masked).
void softmax_by_key(const AttendChunk& a, float* st, int64_t padded, float* alpha) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t r0 = 0; r0 < a.num_rows; r0 += 16) {
    const __mmask16 rows = low_mask(a.num_rows - r0);
    // Key c is visible to a row when start <= c < limit, limit = row_pos - kv_pos + 1 and
    // start = row_first_pos - kv_pos (0 without a window); lanes past num_rows see none.
    const __m512i limit = _mm512_mask_sub_epi32(_mm512_setzero_si512(), rows,
                                                _mm512_maskz_loadu_epi32(rows, a.row_pos + r0),
                                                _mm512_set1_epi32((int)a.kv_pos - 1));
    const __m512i start =
        a.row_first_pos ? _mm512_sub_epi32(_mm512_maskz_loadu_epi32(rows, a.row_first_pos + r0),
                                           _mm512_set1_epi32((int)a.kv_pos))
                        : _mm512_setzero_si512();
    auto visible = [&](int64_t c) {
      const __m512i cv = _mm512_set1_epi32((int)c);
      return _mm512_mask_cmple_epi32_mask(_mm512_cmpgt_epi32_mask(limit, cv), start, cv);
    };
    const __m512 m_old = _mm512_mask_loadu_ps(neg_inf, rows, a.m + r0);
    const int64_t num_keys = a.num_keys;
    __m512 mx = m_old;
    for (int64_t c = 0; c < num_keys; ++c) {
      const __mmask16 valid = visible(c);
      mx = _mm512_mask_max_ps(mx, valid, mx, _mm512_loadu_ps(st + c * padded + r0));
    }
    // Rows that have seen no key yet keep -inf; give exp a finite maximum to subtract.
    const __mmask16 seen = _mm512_cmp_ps_mask(mx, neg_inf, _CMP_NEQ_OQ);
    const __m512 mx_safe = _mm512_maskz_mov_ps(seen, mx);
    const __m512 al =
        _mm512_mask_blend_ps(seen, _mm512_set1_ps(1.0f), vec_exp(_mm512_sub_ps(m_old, mx_safe)));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t c = 0; c < num_keys; ++c) {
      const __mmask16 valid = visible(c);
      float* sp = st + c * padded + r0;
      const __m512 p =
          _mm512_maskz_mov_ps(valid, vec_exp(_mm512_sub_ps(_mm512_loadu_ps(sp), mx_safe)));
      _mm512_storeu_ps(sp, p);
      sum = _mm512_add_ps(sum, p);
    }
    const __m512 l = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(rows, a.l + r0), al, sum);
    _mm512_mask_storeu_ps(a.m + r0, rows, mx);
    _mm512_mask_storeu_ps(a.l + r0, rows, l);
    _mm512_storeu_ps(alpha + r0, al);
  }
}

// Online softmax over scores laid out [row][key]: p replaces s (zeros where masked), the
// row's running max and sum advance, alpha[r] is the factor the row's output must take.
void softmax_by_row(const AttendChunk& a, float* s, float* alpha) {
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t r = 0; r < a.num_rows; ++r) {
    float* sr = s + r * kAttendChunkKeys;
    const int64_t num_valid = std::clamp<int64_t>(a.row_pos[r] - a.kv_pos + 1, 0, a.num_keys);
    const int64_t first =
        a.row_first_pos ? std::clamp<int64_t>(a.row_first_pos[r] - a.kv_pos, 0, num_valid) : 0;
    if (first == num_valid) {
      _mm512_storeu_ps(sr, _mm512_setzero_ps());
      _mm512_storeu_ps(sr + 16, _mm512_setzero_ps());
      alpha[r] = 1.0f;
      continue;
    }
    const __mmask16 m0 = (__mmask16)(low_mask(num_valid) & ~low_mask(first));
    const __mmask16 m1 = (__mmask16)(low_mask(num_valid - 16) & ~low_mask(first - 16));
    const __m512 s0 = _mm512_mask_loadu_ps(neg_inf, m0, sr);
    const __m512 s1 = _mm512_mask_loadu_ps(neg_inf, m1, sr + 16);
    const float mx = std::max(a.m[r], _mm512_reduce_max_ps(_mm512_max_ps(s0, s1)));
    const float al = mx == a.m[r] ? 1.0f : std::exp(a.m[r] - mx);
    const __m512 vmx = _mm512_set1_ps(mx);
    const __m512 p0 = _mm512_maskz_mov_ps(m0, vec_exp(_mm512_sub_ps(s0, vmx)));
    const __m512 p1 = _mm512_maskz_mov_ps(m1, vec_exp(_mm512_sub_ps(s1, vmx)));
    _mm512_storeu_ps(sr, p0);
    _mm512_storeu_ps(sr + 16, p1);
    a.m[r] = mx;
    a.l[r] = a.l[r] * al + _mm512_reduce_add_ps(_mm512_add_ps(p0, p1));
    alpha[r] = al;
  }
}

// o[r][d0, d0 + 16 NV) = alpha[r] o[r][...] + sum_c p[r][c] v_c[...] for RB rows from r0;
// the last vector is masked by `last`. p[r][c] is at p + r * p_row + c * p_key.
template <KvDType D, int RB, int NV>
void pv_block(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key,
              const float* alpha, int64_t r0, int64_t d0, __mmask16 last) {
  const int64_t dim = a.head_dim;
  __m512 acc[RB][NV];
#pragma GCC unroll 4
  for (int r = 0; r < RB; ++r) {
    const __m512 al = _mm512_set1_ps(alpha[r0 + r]);
    const float* o = a.o + (r0 + r) * dim + d0;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      acc[r][j] = _mm512_mul_ps(al, _mm512_maskz_loadu_ps(j + 1 < NV ? 0xffff : last, o + 16 * j));
  }
  const float* pc = p + r0 * p_row;
  for (int64_t c = 0; c < a.num_keys; ++c, pc += p_key) {
    // The prefetches go with the first call over the chunk's keys only.
    if (a.prefetch_count > 0 && r0 == 0 && d0 == 0) {
      const int64_t per = (a.prefetch_count + a.num_keys - 1) / a.num_keys;
      for (int64_t i = c * per; i < std::min(a.prefetch_count, (c + 1) * per); ++i)
        _mm_prefetch(reinterpret_cast<const char*>(a.prefetch[i]), _MM_HINT_T1);
    }
    const void* v = a.v_rows[c];
    __m512 vv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      vv[j] = j + 1 < NV ? load_kv<D>(v, d0 + 16 * j) : load_kv<D>(v, d0 + 16 * j, last);
#pragma GCC unroll 4
    for (int r = 0; r < RB; ++r) {
      const __m512 pr = _mm512_set1_ps(pc[r * p_row]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm512_fmadd_ps(pr, vv[j], acc[r][j]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < RB; ++r) {
    float* o = a.o + (r0 + r) * dim + d0;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      _mm512_mask_storeu_ps(o + 16 * j, j + 1 < NV ? 0xffff : last, acc[r][j]);
  }
}

template <KvDType D, int RB>
void pv_rows(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key, const float* alpha,
             int64_t r0) {
  const int64_t dim = a.head_dim;
  for (int64_t d0 = 0; d0 < dim; d0 += 64) {
    const int64_t n = std::min<int64_t>(64, dim - d0);
    const __mmask16 last = low_mask(n - (n - 1) / 16 * 16);
    switch ((n + 15) / 16) {
      case 1:
        pv_block<D, RB, 1>(a, p, p_row, p_key, alpha, r0, d0, last);
        break;
      case 2:
        pv_block<D, RB, 2>(a, p, p_row, p_key, alpha, r0, d0, last);
        break;
      case 3:
        pv_block<D, RB, 3>(a, p, p_row, p_key, alpha, r0, d0, last);
        break;
      default:
        pv_block<D, RB, 4>(a, p, p_row, p_key, alpha, r0, d0, last);
        break;
    }
  }
}

template <KvDType D>
void pv(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key, const float* alpha) {
  int64_t r = 0;
  for (; r + 4 <= a.num_rows; r += 4) pv_rows<D, 4>(a, p, p_row, p_key, alpha, r);
  switch (a.num_rows - r) {
    case 3:
      pv_rows<D, 3>(a, p, p_row, p_key, alpha, r);
      break;
    case 2:
      pv_rows<D, 2>(a, p, p_row, p_key, alpha, r);
      break;
    case 1:
      pv_rows<D, 1>(a, p, p_row, p_key, alpha, r);
      break;
    default:
      break;
  }
}

template <KvDType D>
void attend_chunk_typed(const AttendChunk& a) {
  const int64_t padded = attend_rows_padded(a.num_rows);
  float* s = a.work;
  float* alpha = s + padded * kAttendChunkKeys;
  if (a.num_rows >= kByKeyMinRows) {
    scores_by_key<D>(a, s, padded);
    softmax_by_key(a, s, padded, alpha);
    pv<D>(a, s, 1, padded, alpha);
    return;
  }
  const int64_t nv = (a.head_dim + 15) / 16;
  const __mmask16 tail = low_mask(a.head_dim - (nv - 1) * 16);
  switch (nv) {
    case 1:
      scores_rows<D, 1>(a, s, tail);
      break;
    case 2:
      scores_rows<D, 2>(a, s, tail);
      break;
    case 3:
      scores_rows<D, 3>(a, s, tail);
      break;
    case 4:
      scores_rows<D, 4>(a, s, tail);
      break;
    case 5:
      scores_rows<D, 5>(a, s, tail);
      break;
    case 6:
      scores_rows<D, 6>(a, s, tail);
      break;
    case 7:
      scores_rows<D, 7>(a, s, tail);
      break;
    case 8:
      scores_rows<D, 8>(a, s, tail);
      break;
    default:
      scores_by_row_any<D>(a, s);
      break;
  }
  softmax_by_row(a, s, alpha);
  pv<D>(a, s, kAttendChunkKeys, 1, alpha);
}

void attend_chunk(const AttendChunk& a) {
  switch (a.kv_dtype) {
    case KvDType::kF32:
      return attend_chunk_typed<KvDType::kF32>(a);
    case KvDType::kF16:
      return attend_chunk_typed<KvDType::kF16>(a);
    case KvDType::kBF16:
      return attend_chunk_typed<KvDType::kBF16>(a);
  }
}

// ---- convert_kv ----

// bfloat16 of each lane, rounded to nearest even; NaNs stay (quiet) NaNs, as in fp32_to_bf16.
inline __m256i to_bf16(__m512 x) {
  const __m512i bits = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __m512i nan = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  const __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, is_nan, nan));
}

void convert_kv(const float* src, void* dst, int64_t n, KvDType dtype) {
  if (dtype == KvDType::kF32) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = low_mask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(m, src + i);
    const __m256i h = dtype == KvDType::kF16
                          ? _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
                          : to_bf16(x);
    _mm256_mask_storeu_epi16(out + i, m, h);
  }
}

constexpr VectorKernels kKernels{dot_rows,     axpy_rows,    exp_sum,    silu_mul,
                                 load_queries, attend_chunk, convert_kv, /*prefetches=*/true};

}  // namespace

const VectorKernels* vector_kernels_avx512() { return &kKernels; }

}  // namespace kiln::cpu
