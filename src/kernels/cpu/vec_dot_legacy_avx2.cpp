// AVX2 (+FMA, F16C) kernels for the legacy quant types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
//
// The same broadcast-form gemm as the AVX-512 file (see there), at half the width, with
// the accumulators of a chunk of tokens in an L1 buffer, and without VNNI: a byte dot
// product is vpmaddubsw (u8 x s8 -> pairs of s16) then vpmaddwd by ones.
// For 4-bit weights the s16 pair sums of a whole block cannot overflow
// (8 x 2 x 15 x 127 = 30480), so the gemm adds them as s16 and widens once per block;
// 5-bit weights widen every 4 steps; Q8_0 uses the sign trick (|w| x sign(a, w)) and
// widens every step.
//
// gemm: 8 weight rows at a time, one per 32-bit lane; for each block the rows' quants are
// transposed so that register k holds dword k of every row, and a broadcast activation
// dword advances all 8 rows by 4 elements per step.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {
namespace {

#define KILN_AI inline __attribute__((always_inline))

// NOTE: no std:: templates or util/ inline functions here (see vec_dot.h).
KILN_AI int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
KILN_AI float half_to_float(uint16_t h) { return _cvtsh_ss(h); }
KILN_AI uint16_t float_to_half(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }
KILN_AI int32_t load_i32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
KILN_AI __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
KILN_AI __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

KILN_AI float hmax256(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
KILN_AI float hsum256(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}
KILN_AI int32_t hsum256_epi32(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 1));
  return _mm_cvtsi128_si32(x);
}

// ---------------------------------------------------------------------------------------
// Activation quantization, bit-identical to the reference Q8_0/Q8_1 quantizer.

KILN_AI __m256i round_half_away(__m256 x) {
  // roundf = truncate(x + copysign(0.5 - 2^-25, x)), exact for |x| < 2^23.
  const __m256 half = _mm256_set1_ps(0x1.fffffep-2f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  return _mm256_cvttps_epi32(_mm256_add_ps(x, _mm256_or_ps(half, _mm256_and_ps(x, sign))));
}

KILN_AI float quantize_block_q8(const float* x, int8_t* q, int32_t* sum) {
  __m256 v[4];
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
  }
  const float d = hmax256(amax) / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m256 vid = _mm256_set1_ps(id);
  __m256i i[4];
  for (int k = 0; k < 4; ++k) i[k] = round_half_away(_mm256_mul_ps(v[k], vid));
  *sum =
      hsum256_epi32(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3])));
  // Pack to bytes; the packs interleave 128-bit lanes, which the permute undoes.
  const __m256i p16a = _mm256_packs_epi32(i[0], i[1]), p16b = _mm256_packs_epi32(i[2], i[3]);
  const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  const __m256i ordered =
      _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), ordered);
  return d;
}

void quantize_row_q8_0(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t sum;
    b[i].d = float_to_half(quantize_block_q8(x + i * kQK, b[i].qs, &sum));
  }
}

void quantize_row_q8_1(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t sum;
    const float d = quantize_block_q8(x + i * kQK, b[i].qs, &sum);
    b[i].d = float_to_half(d);
    b[i].s = float_to_half((float)sum * d);
  }
}

// One (token, block) record of a Q8 panel row (layout in vec_dot_internal.h).
struct PanelRecord {
  int8_t q[kQK];
  float d;
  float s;
  int32_t bias;  // -kZero * sum(q)
  int32_t unused;
};
static_assert(sizeof(PanelRecord) == kQ8PanelRecordBytes);

template <int kZero>
void quantize_panel(const float* x, void* dst, int64_t n) {
  auto* rec = static_cast<PanelRecord*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i) {
    int32_t sum;
    const float d = quantize_block_q8(x + i * kQK, rec[i].q, &sum);
    rec[i].d = half_to_float(float_to_half(d));
    rec[i].s = half_to_float(float_to_half((float)sum * d));
    rec[i].bias = -kZero * sum;
    rec[i].unused = 0;
  }
}

// ---------------------------------------------------------------------------------------
// vec_dot: one block per step.

KILN_AI __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i x = load128(qs);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

// 0x10 in byte e wherever bit e of the 32-bit qh is set.
KILN_AI __m256i high_bits(const uint8_t* qh) {
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101,
                                         0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(load_i32(qh)), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

// sum((q - offset) * y) per 32-bit lane, for q in [0, 31] and y in [-127, 127].
KILN_AI __m256i dot_offset(__m256i q, __m256i y, char offset) {
  const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y),
                                     _mm256_maddubs_epi16(_mm256_set1_epi8(offset), y));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

KILN_AI __m256i dot_unsigned(__m256i q, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1));
}

// sum(w * y) for signed w and y (y != -128).
KILN_AI __m256i dot_signed(__m256i w, __m256i y) {
  return dot_unsigned(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
}

void vec_dot_q4_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ4_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i dot = dot_offset(unpack_nibbles(w[i].qs), load256(a[i].qs), 8);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
  }
  *s = hsum256(acc);
}

void vec_dot_q4_1(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ4_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act);
  __m256 acc = _mm256_setzero_ps();
  float sum_min = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i dot = dot_unsigned(unpack_nibbles(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
    sum_min += half_to_float(w[i].m) * half_to_float(a[i].s);
  }
  *s = hsum256(acc) + sum_min;
}

void vec_dot_q5_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ5_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(w[i].qs), high_bits(w[i].qh));
    const __m256i dot = dot_offset(q, load256(a[i].qs), 16);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
  }
  *s = hsum256(acc);
}

void vec_dot_q5_1(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ5_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act);
  __m256 acc = _mm256_setzero_ps();
  float sum_min = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_or_si256(unpack_nibbles(w[i].qs), high_bits(w[i].qh));
    const __m256i dot = dot_unsigned(q, load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
    sum_min += half_to_float(w[i].m) * half_to_float(a[i].s);
  }
  *s = hsum256(acc) + sum_min;
}

void vec_dot_q8_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ8_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i dot = dot_signed(load256(w[i].qs), load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
  }
  *s = hsum256(acc);
}

// ---------------------------------------------------------------------------------------
// gemm.

constexpr int kRows = 8;         // weight rows per group (one per 32-bit lane)
constexpr int kTokenChunk = 32;  // tokens sharing one transposed block

// How the weights' bytes pair with the activations' in vpmaddubsw.
enum class Kind { kNibble, kFiveBit, kSigned };

struct Q4_0Layout {
  static constexpr int64_t kBytes = 18;
  static constexpr int kQs = 2, kQh = -1, kOffset = 8;
  static constexpr bool kMin = false;
  static constexpr Kind kKind = Kind::kNibble;
};
struct Q4_1Layout {
  static constexpr int64_t kBytes = 20;
  static constexpr int kQs = 4, kQh = -1, kOffset = 0;
  static constexpr bool kMin = true;
  static constexpr Kind kKind = Kind::kNibble;
};
struct Q5_0Layout {
  static constexpr int64_t kBytes = 22;
  static constexpr int kQs = 6, kQh = 2, kOffset = 16;
  static constexpr bool kMin = false;
  static constexpr Kind kKind = Kind::kFiveBit;
};
struct Q5_1Layout {
  static constexpr int64_t kBytes = 24;
  static constexpr int kQs = 8, kQh = 4, kOffset = 0;
  static constexpr bool kMin = true;
  static constexpr Kind kKind = Kind::kFiveBit;
};
struct Q8_0Layout {
  static constexpr int64_t kBytes = 34;
  static constexpr int kQs = 2, kOffset = 0;  // no high bits: kSigned reads no kQh
  static constexpr bool kMin = false;
  static constexpr Kind kKind = Kind::kSigned;
};

// One block of 8 rows, transposed: q[k] lane r = bytes 4k..4k+3 of row r (for kSigned:
// |w| in q and w itself in sign).
struct Tile {
  __m256i q[8];
  __m256i sign[8];
  __m256 d;
  __m256 m;
};

struct RowGroup {
  const uint8_t* rows[kRows];
  __m256i gather_offsets;  // rows[i] - rows[0], as int32
};

KILN_AI void transpose4(__m256i& a, __m256i& b, __m256i& c, __m256i& d) {
  const __m256i t0 = _mm256_unpacklo_epi32(a, b), t1 = _mm256_unpackhi_epi32(a, b);
  const __m256i t2 = _mm256_unpacklo_epi32(c, d), t3 = _mm256_unpackhi_epi32(c, d);
  a = _mm256_unpacklo_epi64(t0, t2);
  b = _mm256_unpackhi_epi64(t0, t2);
  c = _mm256_unpacklo_epi64(t1, t3);
  d = _mm256_unpackhi_epi64(t1, t3);
}

template <class L>
KILN_AI void load_tile(const RowGroup& g, int64_t block, Tile& t) {
  const int64_t off = block * L::kBytes;
  const uint8_t* const* r = g.rows;
  if constexpr (L::kKind == Kind::kSigned) {
    // z[j] = row j (32 bytes), z[4+j] = row 4+j; regroup 128-bit halves after the
    // in-lane transposes so that lane order is row order.
    __m256i z[8];
    for (int j = 0; j < 8; ++j) z[j] = load256(r[j] + off + L::kQs);
    transpose4(z[0], z[1], z[2], z[3]);  // lane 0: rows 0-3 dwords k, lane 1: dwords 4+k
    transpose4(z[4], z[5], z[6], z[7]);
    for (int k = 0; k < 4; ++k) {
      const __m256i lo = _mm256_permute2x128_si256(z[k], z[4 + k], 0x20);
      const __m256i hi = _mm256_permute2x128_si256(z[k], z[4 + k], 0x31);
      t.sign[k] = lo;
      t.sign[4 + k] = hi;
      t.q[k] = _mm256_sign_epi8(lo, lo);
      t.q[4 + k] = _mm256_sign_epi8(hi, hi);
    }
  } else {
    // x[j] = [row j | row j+4] (16 bytes of nibbles each).
    __m256i x[4];
    for (int j = 0; j < 4; ++j) {
      x[j] = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(r[j] + off + L::kQs)),
                                     load128(r[j + 4] + off + L::kQs), 1);
    }
    transpose4(x[0], x[1], x[2], x[3]);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int k = 0; k < 4; ++k) {
      t.q[k] = _mm256_and_si256(x[k], m4);
      t.q[4 + k] = _mm256_and_si256(_mm256_srli_epi16(x[k], 4), m4);
    }
    if constexpr (L::kQh >= 0) {
      // Element e = 4k + i has its 5th bit at bit e of qh: byte k/2, bit 4*(k%2) + i.
      const __m256i qh = _mm256_i32gather_epi32(reinterpret_cast<const int*>(r[0] + off + L::kQh),
                                                g.gather_offsets, 1);
      const __m256i lane_base = _mm256_set_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0, 0x0C0C0C0C,
                                                 0x08080808, 0x04040404, 0);
      const __m256i bit_lo = _mm256_set1_epi32(0x08040201);
      const __m256i bit_hi = _mm256_set1_epi32((int)0x80402010u);
      const __m256i sixteen = _mm256_set1_epi8(0x10);
      for (int k = 0; k < 8; ++k) {
        const __m256i ctrl = _mm256_add_epi32(lane_base, _mm256_set1_epi32(0x01010101 * (k / 2)));
        const __m256i sel = (k & 1) ? bit_hi : bit_lo;
        const __m256i set =
            _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(qh, ctrl), sel), sel);
        t.q[k] = _mm256_or_si256(t.q[k], _mm256_and_si256(set, sixteen));
      }
    }
  }
  // d (and m): the first (two) fp16 values of the block. Gather the dwords, then move
  // the low halves (d) to the low 64 bits of each lane and the high halves (m) above.
  const __m256i dm =
      _mm256_i32gather_epi32(reinterpret_cast<const int*>(r[0] + off), g.gather_offsets, 1);
  const __m256i split = _mm256_shuffle_epi8(
      dm, _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15, 0, 1, 4, 5, 8, 9,
                           12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
  const __m256i halves = _mm256_permute4x64_epi64(split, 0xD8);  // [d0-3 d4-7 m0-3 m4-7]
  t.d = _mm256_cvtph_ps(_mm256_castsi256_si128(halves));
  if constexpr (L::kMin) t.m = _mm256_cvtph_ps(_mm256_extracti128_si256(halves, 1));
}

template <class L>
KILN_AI __m256 token_step(const Tile& t, const PanelRecord* a, int64_t block, __m256 acc) {
  const int8_t* q = a[block].q;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i dot;
  if constexpr (L::kKind == Kind::kNibble) {
    __m256i p = _mm256_maddubs_epi16(t.q[0], _mm256_set1_epi32(load_i32(q)));
    for (int k = 1; k < 8; ++k)
      p = _mm256_add_epi16(p, _mm256_maddubs_epi16(t.q[k], _mm256_set1_epi32(load_i32(q + 4 * k))));
    dot = _mm256_madd_epi16(p, ones);
  } else if constexpr (L::kKind == Kind::kFiveBit) {
    __m256i p0 = _mm256_maddubs_epi16(t.q[0], _mm256_set1_epi32(load_i32(q)));
    __m256i p1 = _mm256_maddubs_epi16(t.q[4], _mm256_set1_epi32(load_i32(q + 16)));
    for (int k = 1; k < 4; ++k) {
      p0 = _mm256_add_epi16(p0,
                            _mm256_maddubs_epi16(t.q[k], _mm256_set1_epi32(load_i32(q + 4 * k))));
      p1 = _mm256_add_epi16(
          p1, _mm256_maddubs_epi16(t.q[4 + k], _mm256_set1_epi32(load_i32(q + 16 + 4 * k))));
    }
    dot = _mm256_add_epi32(_mm256_madd_epi16(p0, ones), _mm256_madd_epi16(p1, ones));
  } else {
    dot = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k) {
      const __m256i y = _mm256_sign_epi8(_mm256_set1_epi32(load_i32(q + 4 * k)), t.sign[k]);
      dot = _mm256_add_epi32(dot, _mm256_madd_epi16(_mm256_maddubs_epi16(t.q[k], y), ones));
    }
  }
  if constexpr (L::kOffset != 0) dot = _mm256_add_epi32(dot, _mm256_set1_epi32(a[block].bias));
  acc =
      _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(t.d, _mm256_set1_ps(a[block].d)), acc);
  if constexpr (L::kMin) acc = _mm256_fmadd_ps(t.m, _mm256_set1_ps(a[block].s), acc);
  return acc;
}

// Stores the first nr lanes of v.
KILN_AI void store_rows(float* out, __m256 v, int nr) {
  if (nr == kRows) {
    _mm256_storeu_ps(out, v);
  } else {
    alignas(32) float tmp[kRows];
    _mm256_store_ps(tmp, v);
    for (int i = 0; i < nr; ++i) out[i] = tmp[i];
  }
}

template <class L, int NT>
void group_few_tokens(const RowGroup& g, int64_t n, const uint8_t* act, int64_t act_stride,
                      float* out, int64_t out_stride, int nr) {
  const PanelRecord* a[NT];
  __m256 acc[NT];
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const PanelRecord*>(act + t * act_stride);
    acc[t] = _mm256_setzero_ps();
  }
  Tile tile;
  for (int64_t b = 0; b < n / kQK; ++b) {
    load_tile<L>(g, b, tile);
    for (int t = 0; t < NT; ++t) acc[t] = token_step<L>(tile, a[t], b, acc[t]);
  }
  for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], nr);
}

template <class L>
void group_token_chunk(const RowGroup& g, int64_t n, const uint8_t* act, int64_t act_stride,
                       int64_t num_tokens, float* out, int64_t out_stride, int nr) {
  alignas(32) float acc[kTokenChunk][kRows];
  const PanelRecord* a[kTokenChunk];
  for (int64_t t = 0; t < num_tokens; ++t) {
    a[t] = reinterpret_cast<const PanelRecord*>(act + t * act_stride);
    _mm256_store_ps(acc[t], _mm256_setzero_ps());
  }
  Tile tile;
  for (int64_t b = 0; b < n / kQK; ++b) {
    load_tile<L>(g, b, tile);
    for (int64_t t = 0; t < num_tokens; ++t)
      _mm256_store_ps(acc[t], token_step<L>(tile, a[t], b, _mm256_load_ps(acc[t])));
  }
  for (int64_t t = 0; t < num_tokens; ++t)
    store_rows(out + t * out_stride, _mm256_load_ps(acc[t]), nr);
}

template <class L>
void gemm(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w, int64_t w_stride,
          const void* act, int64_t act_stride, float* out, int64_t out_stride) {
  const auto* act_bytes = static_cast<const uint8_t*>(act);
  for (int64_t r0 = 0; r0 < num_rows; r0 += kRows) {
    const int nr = (int)min64(kRows, num_rows - r0);
    RowGroup g;
    alignas(32) int32_t offsets[kRows];
    for (int i = 0; i < kRows; ++i) {
      const int ri = i < nr ? i : nr - 1;
      g.rows[i] = static_cast<const uint8_t*>(w) + (r0 + ri) * w_stride;
      offsets[i] = (int32_t)(ri * w_stride);
    }
    g.gather_offsets = _mm256_load_si256(reinterpret_cast<const __m256i*>(offsets));
    float* o = out + r0;
    switch (num_tokens) {
      case 1:
        group_few_tokens<L, 1>(g, n, act_bytes, act_stride, o, out_stride, nr);
        continue;
      case 2:
        group_few_tokens<L, 2>(g, n, act_bytes, act_stride, o, out_stride, nr);
        continue;
      default:
        break;
    }
    for (int64_t t0 = 0; t0 < num_tokens; t0 += kTokenChunk) {
      group_token_chunk<L>(g, n, act_bytes + t0 * act_stride, act_stride,
                           min64(kTokenChunk, num_tokens - t0), o + t0 * out_stride, out_stride,
                           nr);
    }
  }
}

constexpr VecDotKernel kQ4_0{DType::Q8_0,
                             quantize_row_q8_0,
                             vec_dot_q4_0,
                             q8_panel_row_bytes,
                             quantize_panel<Q4_0Layout::kOffset>,
                             gemm<Q4_0Layout>};
constexpr VecDotKernel kQ4_1{DType::Q8_1,
                             quantize_row_q8_1,
                             vec_dot_q4_1,
                             q8_panel_row_bytes,
                             quantize_panel<Q4_1Layout::kOffset>,
                             gemm<Q4_1Layout>};
constexpr VecDotKernel kQ5_0{DType::Q8_0,
                             quantize_row_q8_0,
                             vec_dot_q5_0,
                             q8_panel_row_bytes,
                             quantize_panel<Q5_0Layout::kOffset>,
                             gemm<Q5_0Layout>};
constexpr VecDotKernel kQ5_1{DType::Q8_1,
                             quantize_row_q8_1,
                             vec_dot_q5_1,
                             q8_panel_row_bytes,
                             quantize_panel<Q5_1Layout::kOffset>,
                             gemm<Q5_1Layout>};
constexpr VecDotKernel kQ8_0{DType::Q8_0,
                             quantize_row_q8_0,
                             vec_dot_q8_0,
                             q8_panel_row_bytes,
                             quantize_panel<Q8_0Layout::kOffset>,
                             gemm<Q8_0Layout>};

}  // namespace

const VecDotKernel* legacy_kernel_avx2(DType weight_type) {
  switch (weight_type) {
    case DType::Q4_0:
      return &kQ4_0;
    case DType::Q4_1:
      return &kQ4_1;
    case DType::Q5_0:
      return &kQ5_0;
    case DType::Q5_1:
      return &kQ5_1;
    case DType::Q8_0:
      return &kQ8_0;
    default:
      return nullptr;
  }
}

}  // namespace kiln::cpu
