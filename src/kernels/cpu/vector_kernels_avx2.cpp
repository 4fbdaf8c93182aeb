#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {
namespace {

#define VF __m256
#define VI __m256i
#define SET1(f) _mm256_set1_ps(f)
#define SET1_I(i) _mm256_set1_epi32(i)
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define MUL(a, b) _mm256_mul_ps(a, b)
#define ADD(a, b) _mm256_add_ps(a, b)
#define MAX(a, b) _mm256_max_ps(a, b)
#define ROUND(x) _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define CVT_I(x) _mm256_cvtps_epi32(x)
#define SHL23(i) _mm256_slli_epi32(i, 23)
#define ADD_I(a, b) _mm256_add_epi32(a, b)
#define CAST_F(i) _mm256_castsi256_ps(i)
#include "kernels/cpu/simd_exp.inc"

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

void dot_rows(const float* q, const float* k, int64_t k_stride, int64_t num_rows, int64_t dim,
              float scale, float* out) {
  for (int64_t i = 0; i < num_rows; ++i) {
    const float* row = k + i * k_stride;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= dim; d += 16) {
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(row + d), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_loadu_ps(row + d + 8), acc1);
    }
    for (; d + 8 <= dim; d += 8)
      acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(row + d), acc0);
    float acc = hsum(_mm256_add_ps(acc0, acc1));
    for (; d < dim; ++d) acc += q[d] * row[d];
    out[i] = acc * scale;
  }
}

void axpy_rows(const float* p, const float* v, int64_t v_stride, int64_t num_rows, int64_t dim,
               float* out) {
  int64_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    __m256 acc = _mm256_loadu_ps(out + d);
    for (int64_t i = 0; i < num_rows; ++i)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(p[i]), _mm256_loadu_ps(v + i * v_stride + d), acc);
    _mm256_storeu_ps(out + d, acc);
  }
  for (; d < dim; ++d)
    for (int64_t i = 0; i < num_rows; ++i) out[d] += p[i] * v[i * v_stride + d];
}

float exp_sum(float* x, int64_t n, float max) {
  const __m256 vmax = _mm256_set1_ps(max);
  __m256 sum = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = vec_exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  float total = hsum(sum);
  if (i < n) {
    alignas(32) float tail[8];
    for (int j = 0; j < 8; ++j) tail[j] = i + j < n ? x[i + j] - max : -100.0f;
    _mm256_store_ps(tail, vec_exp(_mm256_load_ps(tail)));
    for (int64_t j = 0; i + j < n; ++j) {
      x[i + j] = tail[j];
      total += tail[j];
    }
  }
  return total;
}

// See the AVX-512 version: exp(-|g|) never overflows, and the sign picks the form.
inline __m256 silu(__m256 g) {
  const __m256 abs_g = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), g);
  const __m256 e = vec_exp(_mm256_sub_ps(_mm256_setzero_ps(), abs_g));
  const __m256 r = _mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  const __m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
  return _mm256_blendv_ps(r, _mm256_mul_ps(r, e), neg);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(gate + i,
                     _mm256_mul_ps(silu(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
  for (; i < n; ++i) {
    alignas(32) float g[8] = {gate[i]};
    _mm256_store_ps(g, silu(_mm256_load_ps(g)));
    gate[i] = g[0] * up[i];
  }
}

// ---- load_queries, attend_chunk ----

// NOTE: past eight rows a vector of rows per key (the tile transposed) wastes less than the
// horizontal sums of the row-per-vector layout cost.
constexpr int64_t kByKeyMinRows = 9;

// Lanes [0, n) set, as the mask vector maskload/maskstore/blendv take.
inline __m256i low_mask(int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)std::clamp<int64_t>(n, 0, 8)), iota);
}

// Eight elements of a stored K or V row from element d, as floats.
template <KvDType D>
inline __m256 load_kv(const void* row, int64_t d) {
  if constexpr (D == KvDType::kF32) {
    return _mm256_loadu_ps(static_cast<const float*>(row) + d);
  } else {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + d));
    if constexpr (D == KvDType::kF16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

// The first n (1..8) of those, the rest zero; mask = low_mask(n). Reads nothing past them.
template <KvDType D>
inline __m256 load_kv_part(const void* row, int64_t d, __m256i mask, int64_t n) {
  if constexpr (D == KvDType::kF32) {
    return _mm256_maskload_ps(static_cast<const float*>(row) + d, mask);
  } else {
    alignas(16) uint16_t tmp[8] = {};
    std::memcpy(tmp, static_cast<const uint16_t*>(row) + d, (size_t)n * sizeof(uint16_t));
    return load_kv<D>(tmp, 0);
  }
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// In place: r[i] lane j becomes r[j] lane i.
inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {  // rows 2i, 2i+1 interleaved per 128-bit lane
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // r[4i + k] lane L: column 4L + k of rows 4i..4i+3
    r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int k = 0; k < 4; ++k) {
    t[k] = _mm256_permute2f128_ps(r[k], r[4 + k], 0x20);
    t[4 + k] = _mm256_permute2f128_ps(r[k], r[4 + k], 0x31);
  }
  for (int i = 0; i < 8; ++i) r[i] = t[i];
}

// Few rows: row-major q[r][d]. Many: transposed, q[d][r] over attend_rows_padded rows with
// zeros past num_rows.
void load_queries(const QueryTile& t, float* q) {
  const int64_t dim = t.head_dim, full = dim / 8 * 8;
  const __m256 scale = _mm256_set1_ps(t.scale);
  if (t.num_rows >= kByKeyMinRows) {
    const int64_t padded = attend_rows_padded(t.num_rows);
    for (int64_t r0 = 0; r0 < padded; r0 += 8) {
      for (int64_t d0 = 0; d0 < dim; d0 += 8) {
        const __m256i m = low_mask(dim - d0);
        __m256 x[8];
        for (int i = 0; i < 8; ++i) {
          const int64_t r = r0 + i;
          x[i] = r < t.num_rows
                     ? _mm256_mul_ps(
                           scale,
                           _mm256_maskload_ps(
                               t.src + r / t.group * t.token_stride + r % t.group * dim + d0, m))
                     : _mm256_setzero_ps();
        }
        transpose8(x);
        for (int64_t i = 0; i < std::min<int64_t>(8, dim - d0); ++i)
          _mm256_storeu_ps(q + (d0 + i) * padded + r0, x[i]);
      }
    }
    return;
  }
  for (int64_t r = 0; r < t.num_rows; ++r) {
    const float* src = t.src + r / t.group * t.token_stride + r % t.group * dim;
    float* dst = q + r * dim;
    for (int64_t d = 0; d < full; d += 8)
      _mm256_storeu_ps(dst + d, _mm256_mul_ps(scale, _mm256_loadu_ps(src + d)));
    for (int64_t d = full; d < dim; ++d) dst[d] = src[d] * t.scale;
  }
}

// Eight vectors to one vector of their sums: lane i = sum of v[i]'s lanes.
inline __m256 reduce8(const __m256 (&v)[8]) {
  __m256 t[4], u[2];
  for (int i = 0; i < 4; ++i)
    t[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 2; ++i)
    u[i] = _mm256_add_ps(_mm256_shuffle_ps(t[2 * i], t[2 * i + 1], 0x44),
                         _mm256_shuffle_ps(t[2 * i], t[2 * i + 1], 0xee));
  return _mm256_add_ps(_mm256_permute2f128_ps(u[0], u[1], 0x20),
                       _mm256_permute2f128_ps(u[0], u[1], 0x31));
}

// s[r][c] = q_r . k_c, vectors along head_dim, eight keys reduced at a time. Keys past
// num_keys are zero rows, so their scores are zeros (masked by the softmax).
template <KvDType D>
void scores_by_row(const AttendChunk& a, float* s) {
  const int64_t dim = a.head_dim, full = dim / 8 * 8;
  const __m256i tail = low_mask(dim - full);
  const int64_t groups = (a.num_keys + 7) / 8;
  for (int64_t r = 0; r < a.num_rows; ++r) {
    const float* q = a.q + r * dim;
    for (int64_t g = 0; g < groups; ++g) {
      const void* const* k = a.k_rows + 8 * g;
      __m256 acc[8];
      for (auto& x : acc) x = _mm256_setzero_ps();
      for (int64_t d = 0; d < full; d += 8) {
        const __m256 qv = _mm256_loadu_ps(q + d);
        for (int j = 0; j < 8; ++j) acc[j] = _mm256_fmadd_ps(qv, load_kv<D>(k[j], d), acc[j]);
      }
      if (full < dim) {
        const __m256 qv = _mm256_maskload_ps(q + full, tail);
        for (int j = 0; j < 8; ++j)
          acc[j] = _mm256_fmadd_ps(qv, load_kv_part<D>(k[j], full, tail, dim - full), acc[j]);
      }
      _mm256_storeu_ps(s + r * kAttendChunkKeys + 8 * g, reduce8(acc));
    }
  }
}

// acc[i][j] += k_i[d] * q rows (vector j) for d in [d0, d_end), keys' elements broadcast
// from k (four float rows, element d at k_i + d).
template <int RV>
inline void key_block_steps(const float* qt, int64_t padded, const float* const (&k)[4],
                            int64_t k_first, int64_t d0, int64_t d_end, __m256 (&acc)[4][RV]) {
  // k[i][d - k_first] is element d of key i (k_first: the first element k[i] holds).
  for (int64_t d = d0; d < d_end; ++d) {
    __m256 qv[RV];
#pragma GCC unroll 4
    for (int j = 0; j < RV; ++j) qv[j] = _mm256_loadu_ps(qt + d * padded + 8 * j);
    const int64_t e = d - k_first;
    const __m256 b0 = _mm256_broadcast_ss(k[0] + e), b1 = _mm256_broadcast_ss(k[1] + e);
    const __m256 b2 = _mm256_broadcast_ss(k[2] + e), b3 = _mm256_broadcast_ss(k[3] + e);
#pragma GCC unroll 4
    for (int j = 0; j < RV; ++j) {
      acc[0][j] = _mm256_fmadd_ps(b0, qv[j], acc[0][j]);
      acc[1][j] = _mm256_fmadd_ps(b1, qv[j], acc[1][j]);
      acc[2][j] = _mm256_fmadd_ps(b2, qv[j], acc[2][j]);
      acc[3][j] = _mm256_fmadd_ps(b3, qv[j], acc[3][j]);
    }
  }
}

// st[c][r] = q_r . k_c with a vector of eight rows (of the transposed tile) per key and the
// key's elements broadcast: no horizontal sums. RV row vectors from rv0, keys in fours.
// NOTE: 16-bit keys are converted eight elements at a time into a small stack tile and
// broadcast from there, a load each, rather than converted element by element.
template <KvDType D, int RV>
void scores_by_key_block(const AttendChunk& a, float* st, int64_t padded, int64_t rv0) {
  const int64_t dim = a.head_dim;
  const float* qt = a.q + 8 * rv0;
  const int64_t key_blocks = (a.num_keys + 3) / 4;
  for (int64_t kb = 0; kb < key_blocks; ++kb) {
    __m256 acc[4][RV];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RV; ++j) acc[i][j] = _mm256_setzero_ps();
    if constexpr (D == KvDType::kF32) {
      const float* const k[4] = {static_cast<const float*>(a.k_rows[4 * kb]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 1]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 2]),
                                 static_cast<const float*>(a.k_rows[4 * kb + 3])};
      key_block_steps<RV>(qt, padded, k, 0, 0, dim, acc);
    } else {
      alignas(32) float tile[4][8];
      for (int64_t d0 = 0; d0 < dim; d0 += 8) {
        const int64_t n = std::min<int64_t>(8, dim - d0);
        const __m256i m = low_mask(n);
#pragma GCC unroll 4
        for (int i = 0; i < 4; ++i)
          _mm256_store_ps(tile[i], n == 8 ? load_kv<D>(a.k_rows[4 * kb + i], d0)
                                          : load_kv_part<D>(a.k_rows[4 * kb + i], d0, m, n));
        // NOTE: tile[i] holds elements d0.. of key i; a pointer tile[i] - d0 indexed by d would
        // point before the array (undefined behaviour, which clang's UBSan reports).
        const float* const k[4] = {tile[0], tile[1], tile[2], tile[3]};
        key_block_steps<RV>(qt, padded, k, d0, d0, d0 + n, acc);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < RV; ++j)
        _mm256_storeu_ps(st + (4 * kb + i) * padded + 8 * (rv0 + j), acc[i][j]);
  }
}

template <KvDType D>
void scores_by_key(const AttendChunk& a, float* st, int64_t padded) {
  const int64_t vecs = (a.num_rows + 7) / 8;
  int64_t rv = 0;
  for (; rv + 2 <= vecs; rv += 2) scores_by_key_block<D, 2>(a, st, padded, rv);
  if (rv < vecs) scores_by_key_block<D, 1>(a, st, padded, rv);
}

// Online softmax over scores laid out [key][row], eight rows per vector: the maximum and
// the sums are lane-wise. p replaces st (zeros where masked).
void softmax_by_key(const AttendChunk& a, float* st, int64_t padded, float* alpha) {
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t r0 = 0; r0 < a.num_rows; r0 += 8) {
    const __m256i rows = low_mask(a.num_rows - r0);
    // Key c is visible to a row when start <= c < limit, limit = row_pos - kv_pos + 1 and
    // start = row_first_pos - kv_pos (0 without a window); lanes past num_rows see none.
    const __m256i limit =
        _mm256_and_si256(rows, _mm256_sub_epi32(_mm256_maskload_epi32(a.row_pos + r0, rows),
                                                _mm256_set1_epi32((int)a.kv_pos - 1)));
    const __m256i start = a.row_first_pos
                              ? _mm256_sub_epi32(_mm256_maskload_epi32(a.row_first_pos + r0, rows),
                                                 _mm256_set1_epi32((int)a.kv_pos))
                              : _mm256_setzero_si256();
    auto visible = [&](int64_t c) {
      const __m256i cv = _mm256_set1_epi32((int)c);
      return _mm256_castsi256_ps(
          _mm256_andnot_si256(_mm256_cmpgt_epi32(start, cv), _mm256_cmpgt_epi32(limit, cv)));
    };
    const __m256 m_old =
        _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(a.m + r0, rows), _mm256_castsi256_ps(rows));
    __m256 mx = m_old;
    for (int64_t c = 0; c < a.num_keys; ++c) {
      const __m256 valid = visible(c);
      mx = _mm256_blendv_ps(mx, _mm256_max_ps(mx, _mm256_loadu_ps(st + c * padded + r0)), valid);
    }
    // Rows that have seen no key yet keep -inf; give exp a finite maximum to subtract.
    const __m256 seen = _mm256_cmp_ps(mx, neg_inf, _CMP_NEQ_OQ);
    const __m256 mx_safe = _mm256_and_ps(seen, mx);
    const __m256 al =
        _mm256_blendv_ps(_mm256_set1_ps(1.0f), vec_exp(_mm256_sub_ps(m_old, mx_safe)), seen);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t c = 0; c < a.num_keys; ++c) {
      const __m256 valid = visible(c);
      float* sp = st + c * padded + r0;
      const __m256 p = _mm256_and_ps(valid, vec_exp(_mm256_sub_ps(_mm256_loadu_ps(sp), mx_safe)));
      _mm256_storeu_ps(sp, p);
      sum = _mm256_add_ps(sum, p);
    }
    const __m256 l = _mm256_fmadd_ps(_mm256_maskload_ps(a.l + r0, rows), al, sum);
    _mm256_maskstore_ps(a.m + r0, rows, mx);
    _mm256_maskstore_ps(a.l + r0, rows, l);
    _mm256_storeu_ps(alpha + r0, al);
  }
}

// Online softmax over scores laid out [row][key]: p replaces s (zeros where masked), the
// row's running max and sum advance, alpha[r] is the factor the row's output must take.
void softmax_by_row(const AttendChunk& a, float* s, float* alpha) {
  constexpr int kVecs = kAttendChunkKeys / 8;
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t r = 0; r < a.num_rows; ++r) {
    float* sr = s + r * kAttendChunkKeys;
    const int64_t num_valid = std::clamp<int64_t>(a.row_pos[r] - a.kv_pos + 1, 0, a.num_keys);
    const int64_t first =
        a.row_first_pos ? std::clamp<int64_t>(a.row_first_pos[r] - a.kv_pos, 0, num_valid) : 0;
    if (first == num_valid) {
      for (int i = 0; i < kVecs; ++i) _mm256_storeu_ps(sr + 8 * i, _mm256_setzero_ps());
      alpha[r] = 1.0f;
      continue;
    }
    __m256 x[kVecs], valid[kVecs];
    __m256 vmax = neg_inf;
    for (int i = 0; i < kVecs; ++i) {
      valid[i] = _mm256_castsi256_ps(
          _mm256_andnot_si256(low_mask(first - 8 * i), low_mask(num_valid - 8 * i)));
      x[i] = _mm256_blendv_ps(neg_inf, _mm256_loadu_ps(sr + 8 * i), valid[i]);
      vmax = _mm256_max_ps(vmax, x[i]);
    }
    const float mx = std::max(a.m[r], hmax(vmax));
    const float al = mx == a.m[r] ? 1.0f : std::exp(a.m[r] - mx);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 sum = _mm256_setzero_ps();
    for (int i = 0; i < kVecs; ++i) {
      const __m256 p = _mm256_and_ps(valid[i], vec_exp(_mm256_sub_ps(x[i], vmx)));
      _mm256_storeu_ps(sr + 8 * i, p);
      sum = _mm256_add_ps(sum, p);
    }
    a.m[r] = mx;
    a.l[r] = a.l[r] * al + hsum(sum);
    alpha[r] = al;
  }
}

// o[r][d0, d0 + 8 NV) = alpha[r] o[r][...] + sum_c p[r][c] v_c[...] for RB rows from r0;
// the last vector has last_n elements, masked by `last`. p[r][c] is at p + r * p_row +
// c * p_key.
template <KvDType D, int RB, int NV>
void pv_block(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key,
              const float* alpha, int64_t r0, int64_t d0, __m256i last, int64_t last_n) {
  const int64_t dim = a.head_dim;
  __m256 acc[RB][NV];
  for (int r = 0; r < RB; ++r) {
    const __m256 al = _mm256_set1_ps(alpha[r0 + r]);
    const float* o = a.o + (r0 + r) * dim + d0;
    for (int j = 0; j < NV; ++j)
      acc[r][j] = _mm256_mul_ps(
          al, j + 1 < NV ? _mm256_loadu_ps(o + 8 * j) : _mm256_maskload_ps(o + 8 * j, last));
  }
  for (int64_t c = 0; c < a.num_keys; ++c) {
    const void* v = a.v_rows[c];
    __m256 vv[NV];
    for (int j = 0; j < NV; ++j)
      vv[j] = j + 1 < NV || last_n == 8 ? load_kv<D>(v, d0 + 8 * j)
                                        : load_kv_part<D>(v, d0 + 8 * j, last, last_n);
    for (int r = 0; r < RB; ++r) {
      const __m256 pr = _mm256_broadcast_ss(p + (r0 + r) * p_row + c * p_key);
      for (int j = 0; j < NV; ++j) acc[r][j] = _mm256_fmadd_ps(pr, vv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    float* o = a.o + (r0 + r) * dim + d0;
    for (int j = 0; j + 1 < NV; ++j) _mm256_storeu_ps(o + 8 * j, acc[r][j]);
    _mm256_maskstore_ps(o + 8 * (NV - 1), last, acc[r][NV - 1]);
  }
}

template <KvDType D, int RB>
void pv_rows(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key, const float* alpha,
             int64_t r0) {
  const int64_t dim = a.head_dim;
  for (int64_t d0 = 0; d0 < dim; d0 += 32) {
    const int64_t n = std::min<int64_t>(32, dim - d0);
    const int64_t last_n = n - (n - 1) / 8 * 8;
    const __m256i last = low_mask(last_n);
    switch ((n + 7) / 8) {
      case 1:
        pv_block<D, RB, 1>(a, p, p_row, p_key, alpha, r0, d0, last, last_n);
        break;
      case 2:
        pv_block<D, RB, 2>(a, p, p_row, p_key, alpha, r0, d0, last, last_n);
        break;
      case 3:
        pv_block<D, RB, 3>(a, p, p_row, p_key, alpha, r0, d0, last, last_n);
        break;
      default:
        pv_block<D, RB, 4>(a, p, p_row, p_key, alpha, r0, d0, last, last_n);
        break;
    }
  }
}

template <KvDType D>
void pv(const AttendChunk& a, const float* p, int64_t p_row, int64_t p_key, const float* alpha) {
  int64_t r = 0;
  for (; r + 2 <= a.num_rows; r += 2) pv_rows<D, 2>(a, p, p_row, p_key, alpha, r);
  if (r < a.num_rows) pv_rows<D, 1>(a, p, p_row, p_key, alpha, r);
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
  } else {
    scores_by_row<D>(a, s);
    softmax_by_row(a, s, alpha);
    pv<D>(a, s, kAttendChunkKeys, 1, alpha);
  }
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

// bfloat16 of each lane (in the low 16 bits of each 32-bit lane), rounded to nearest even;
// NaNs stay (quiet) NaNs, as in fp32_to_bf16.
inline __m256i to_bf16_lanes(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
  const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  return _mm256_blendv_epi8(rounded, nan, _mm256_castps_si256(is_nan));
}

void convert_kv(const float* src, void* dst, int64_t n, KvDType dtype) {
  if (dtype == KvDType::kF32) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  auto convert8 = [dtype](__m256 v) {
    if (dtype == KvDType::kF16)
      return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i lanes = to_bf16_lanes(v);  // values < 2^16: packus keeps them
    return _mm_packus_epi32(_mm256_castsi256_si128(lanes), _mm256_extracti128_si256(lanes, 1));
  };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), convert8(_mm256_loadu_ps(src + i)));
  if (i < n) {
    alignas(32) float x[8] = {};
    std::memcpy(x, src + i, (size_t)(n - i) * sizeof(float));
    alignas(16) uint16_t y[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(y), convert8(_mm256_load_ps(x)));
    std::memcpy(out + i, y, (size_t)(n - i) * sizeof(uint16_t));
  }
}

constexpr VectorKernels kKernels{dot_rows,     axpy_rows,    exp_sum,   silu_mul,
                                 load_queries, attend_chunk, convert_kv};

}  // namespace

const VectorKernels* vector_kernels_avx2() { return &kKernels; }

}  // namespace kiln::cpu
