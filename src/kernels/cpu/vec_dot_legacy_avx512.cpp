// AVX-512 (F/BW/VL/DQ + VNNI) kernels for the legacy quant types Q4_0, Q4_1, Q5_0, Q5_1
// and Q8_0, with an optional AMX-INT8 path for prompts.
//
// vec_dot: one row against one activation row, a block (32 elements) per VNNI step.
//
// gemm ("broadcast form"): 16 weight rows at a time, one row per 32-bit lane. For each
// block the 16 rows' quants are transposed so that register k holds dword k (elements
// 4k..4k+3) of every row; one vpdpbusd with a broadcast activation dword then advances
// all 16 rows by 4 elements. Eight vpdpbusd finish a block for one token, after which a
// convert + multiply-add applies the 16 rows' scales. No horizontal sums; a token's 16
// outputs come out as one vector.
//  - Decode (1-4 tokens): each block is transposed as it is used, the next row groups are
//    prefetched, accumulators stay in registers.
//  - Prompts: a row group's blocks are transposed once into an L1 buffer ("packed") and
//    reused by every tile of 8 tokens (accumulators in registers, 8 independent chains),
//    or of 16 tokens on AMX (opt-in, KILN_AMX=1), where one tdpbsud replaces 128
//    vpdpbusd.
// The activations are a "Q8 panel" (vec_dot_internal.h): quants, scales and the
// zero-point correction of each (token, block) at one address.
//
// Signedness: vpdpbusd multiplies unsigned by signed bytes. The 4/5-bit quants are
// unsigned as stored; Q8_0 weights are made unsigned by adding 128 (xor 0x80). The zero
// points (8, 16, 128) are taken back out exactly: each activation block's accumulator
// starts at -zero * sum(a), precomputed in the panel, since
// sum((q - zero) * a) = sum(q * a) - zero * sum(a).
// Throughput notes (this machine, one core, ~3 GHz under AVX-512 load): the prompt loop
// is bound by its 12 vector ops per 16 rows x token x block (8 vpdpbusd + cvt, mul, 2 fma).
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

// acc += u8 w x s8 (the dword at p, broadcast). NOTE: written in asm because GCC 12 does
// not fold the broadcast into vpdpbusd's {1to16} memory operand; a separate vpbroadcastd
// costs an extra uop per vpdpbusd, and the gemm issues one per vpdpbusd.
KILN_AI __m512i dpbusd_bcast(__m512i acc, __m512i w, const int8_t* p) {
  __asm__("vpdpbusd %[m]%{1to16%}, %[w], %[acc]"
          : [acc] "+v"(acc)
          : [w] "v"(w), [m] "m"(*reinterpret_cast<const int32_t*>(p)));
  return acc;
}

// ---------------------------------------------------------------------------------------
// Activation quantization, bit-identical to the reference Q8_0/Q8_1 quantizer.

// Quantizes 32 floats into q; returns d = amax / 127 (before fp16 rounding), *sum = sum(q).
KILN_AI float quantize_block_q8(const float* x, int8_t* q, int32_t* sum) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const float d = amax / 127;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  const __m512 vid = _mm512_set1_ps(id);
  const __m512 s0 = _mm512_mul_ps(v0, vid), s1 = _mm512_mul_ps(v1, vid);
  // roundf (half away from zero) = truncate(x + copysign(0.5 - 2^-25, x)), exact for
  // |x| < 2^23 (the plain +0.5 would round 0.49999997 up).
  const __m512 half = _mm512_set1_ps(0x1.fffffep-2f);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i i0 =
      _mm512_cvttps_epi32(_mm512_add_ps(s0, _mm512_or_ps(half, _mm512_and_ps(s0, sign))));
  const __m512i i1 =
      _mm512_cvttps_epi32(_mm512_add_ps(s1, _mm512_or_ps(half, _mm512_and_ps(s1, sign))));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(i1));
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
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

// The Q8 panel row (layout in vec_dot_internal.h).
// One (token, block) record of a Q8 panel row (layout in vec_dot_internal.h).
struct PanelRecord {
  int8_t q[kQK];
  float d;
  float s;
  int32_t bias;  // -kZero * sum(q)
  int32_t unused;
};
static_assert(sizeof(PanelRecord) == kQ8PanelRecordBytes);

// Reduces each of 16 vectors to one value with op; returns them in one vector whose
// element 4j + e holds the result for v[4e + j] (see kReducedIndex).
template <class Op>
KILN_AI __m512 transpose_reduce16(const __m512* v, Op op) {
  __m512 w[8], x[4], y[2];
  for (int i = 0; i < 8; ++i) {  // w[i] = [v[2i] (8 partials) | v[2i+1] (8 partials)]
    w[i] = op(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
              _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
  }
  for (int i = 0; i < 4; ++i) {  // x[i] lane j = 4 partials of v[4i + j]
    x[i] = op(_mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0x88),
              _mm512_shuffle_f32x4(w[2 * i], w[2 * i + 1], 0xDD));
  }
  for (int i = 0; i < 2; ++i) {  // y[i] lane j = 2 partials of v[8i + j], 2 of v[8i + 4 + j]
    y[i] = op(_mm512_shuffle_ps(x[2 * i], x[2 * i + 1], 0x44),
              _mm512_shuffle_ps(x[2 * i], x[2 * i + 1], 0xEE));
  }
  // lane j = [v[j], v[4 + j], v[8 + j], v[12 + j]]
  return op(_mm512_shuffle_ps(y[0], y[1], 0x88), _mm512_shuffle_ps(y[0], y[1], 0xDD));
}
KILN_AI int reduced_index(int b) { return 4 * (b % 4) + b / 4; }

// Quantizes x like quantize_block_q8 (bit for bit), 16 blocks at a time: the per-block
// maxima, divisions, sums and fp16 roundings are done for 16 blocks together.
template <int kZero>
void quantize_panel(const float* x, void* dst, int64_t n) {
  auto* rec = static_cast<PanelRecord*>(dst);
  const int64_t nb = n / kQK;
  int64_t i = 0;
  const __m512 half = _mm512_set1_ps(0x1.fffffep-2f);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (; i + 16 <= nb; i += 16) {
    const float* xb = x + i * kQK;
    __m512 amax[16];
    for (int b = 0; b < 16; ++b) {
      amax[b] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb + b * kQK)),
                              _mm512_abs_ps(_mm512_loadu_ps(xb + b * kQK + 16)));
    }
    const __m512 vmax =
        transpose_reduce16(amax, [](__m512 a, __m512 b) { return _mm512_max_ps(a, b); });
    const __m512 d = _mm512_div_ps(vmax, _mm512_set1_ps(127.0f));
    const __m512 id = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ),
                                          _mm512_set1_ps(1.0f), d);
    alignas(64) float ids[16];
    _mm512_store_ps(ids, id);
    __m512 sums[16];
    for (int b = 0; b < 16; ++b) {
      const __m512 vid = _mm512_set1_ps(ids[reduced_index(b)]);
      const __m512 s0 = _mm512_mul_ps(_mm512_loadu_ps(xb + b * kQK), vid);
      const __m512 s1 = _mm512_mul_ps(_mm512_loadu_ps(xb + b * kQK + 16), vid);
      const __m512i i0 =
          _mm512_cvttps_epi32(_mm512_add_ps(s0, _mm512_or_ps(half, _mm512_and_ps(s0, sign))));
      const __m512i i1 =
          _mm512_cvttps_epi32(_mm512_add_ps(s1, _mm512_or_ps(half, _mm512_and_ps(s1, sign))));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(rec[i + b].q), _mm512_cvtepi32_epi8(i0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(rec[i + b].q + 16), _mm512_cvtepi32_epi8(i1));
      sums[b] = _mm512_castsi512_ps(_mm512_add_epi32(i0, i1));
    }
    const __m512i sum = _mm512_castps_si512(transpose_reduce16(sums, [](__m512 a, __m512 b) {
      return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    }));
    alignas(64) float d16[16], s16[16];
    alignas(64) int32_t bias[16];
    _mm512_store_ps(d16, _mm512_cvtph_ps(_mm512_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT)));
    _mm512_store_ps(s16, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), d),
                                                         _MM_FROUND_TO_NEAREST_INT)));
    _mm512_store_si512(bias, _mm512_mullo_epi32(sum, _mm512_set1_epi32(-kZero)));
    for (int b = 0; b < 16; ++b) {
      const int j = reduced_index(b);
      rec[i + b].d = d16[j];
      rec[i + b].s = s16[j];
      rec[i + b].bias = bias[j];
      rec[i + b].unused = 0;
    }
  }
  for (; i < nb; ++i) {
    int32_t sum;
    const float d = quantize_block_q8(x + i * kQK, rec[i].q, &sum);
    rec[i].d = half_to_float(float_to_half(d));
    rec[i].s = half_to_float(float_to_half((float)sum * d));
    rec[i].bias = -kZero * sum;
    rec[i].unused = 0;
  }
}

// ---------------------------------------------------------------------------------------
// vec_dot: one block per step on 256-bit vectors.

KILN_AI float hsum256(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15) then high (16..31).
KILN_AI __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

// Adds 16 to byte e wherever bit e of qh is set (the 5th bit of Q5_0/Q5_1).
KILN_AI __m256i add_high_bits(__m256i q, const uint8_t* qh) {
  return _mm256_or_si256(q, _mm256_maskz_mov_epi8((__mmask32)load_i32(qh), _mm256_set1_epi8(0x10)));
}

KILN_AI __m256i load256(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// sum((q - offset) * y) for unsigned q and signed y.
KILN_AI __m256i dot_offset(__m256i q, __m256i y, char offset) {
  const __m256i zero = _mm256_setzero_si256();
  return _mm256_sub_epi32(_mm256_dpbusd_epi32(zero, q, y),
                          _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(offset), y));
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
    const __m256i dot =
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack_nibbles(w[i].qs), load256(a[i].qs));
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
    const __m256i q = add_high_bits(unpack_nibbles(w[i].qs), w[i].qh);
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
    const __m256i q = add_high_bits(unpack_nibbles(w[i].qs), w[i].qh);
    const __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, load256(a[i].qs));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
    sum_min += half_to_float(w[i].m) * half_to_float(a[i].s);
  }
  *s = hsum256(acc) + sum_min;
}

void vec_dot_q8_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ8_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  const __m256i bias = _mm256_set1_epi8((char)0x80);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m256i q = _mm256_xor_si256(load256(w[i].qs), bias);  // q + 128, unsigned
    const __m256i dot = dot_offset(q, load256(a[i].qs), (char)0x80);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                          _mm256_set1_ps(half_to_float(w[i].d) * half_to_float(a[i].d)), acc);
  }
  *s = hsum256(acc);
}

// ---------------------------------------------------------------------------------------
// gemm.

constexpr int kRows = 16;           // weight rows per group (one per 32-bit lane)
constexpr int kTokenChunk = 128;    // tokens sharing one packed set of blocks
constexpr int kPackBlocks = 32;     // blocks packed at a time (32 x 640 bytes, in L1)
constexpr int kTileTokens = 8;      // tokens per register tile
constexpr int kPrefetchGroups = 4;  // how many row groups ahead decode prefetches

// Where each field of a block lives; -1 when absent.
struct Q4_0Layout {
  static constexpr int64_t kBytes = 18;
  static constexpr int kQs = 2, kQh = -1, kOffset = 8;
  static constexpr bool kMin = false, kEightBit = false;
};
struct Q4_1Layout {
  static constexpr int64_t kBytes = 20;
  static constexpr int kQs = 4, kQh = -1, kOffset = 0;
  static constexpr bool kMin = true, kEightBit = false;
};
struct Q5_0Layout {
  static constexpr int64_t kBytes = 22;
  static constexpr int kQs = 6, kQh = 2, kOffset = 16;
  static constexpr bool kMin = false, kEightBit = false;
};
struct Q5_1Layout {
  static constexpr int64_t kBytes = 24;
  static constexpr int kQs = 8, kQh = 4, kOffset = 0;
  static constexpr bool kMin = true, kEightBit = false;
};
struct Q8_0Layout {
  static constexpr int64_t kBytes = 34;
  static constexpr int kQs = 2, kOffset = 128;  // no high bits: kSigned reads no kQh
  static constexpr bool kMin = false, kEightBit = true;
};

// One block of 16 rows, transposed: q[k] lane r = bytes 4k..4k+3 (unsigned) of row r.
struct Tile {
  __m512i q[8];
  __m512 d;
  __m512 m;
};

// Row pointers and gather offsets of one group (rows past the end repeat the last row).
struct RowGroup {
  const uint8_t* rows[kRows];
  __m512i gather_offsets;  // rows[i] - rows[0], as int32
  int64_t stride;          // bytes from one row to the next
};

KILN_AI __m512i load_4x128(const uint8_t* a, const uint8_t* b, const uint8_t* c, const uint8_t* d) {
  __m512i x = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), 1);
  x = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), 2);
  return _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(d)), 3);
}

KILN_AI __m512i load_2x256(const uint8_t* a, const uint8_t* b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(load256(a)), load256(b), 1);
}

// 4x4 transpose of 32-bit elements within each 128-bit lane.
KILN_AI void transpose4(__m512i& a, __m512i& b, __m512i& c, __m512i& d) {
  const __m512i t0 = _mm512_unpacklo_epi32(a, b), t1 = _mm512_unpackhi_epi32(a, b);
  const __m512i t2 = _mm512_unpacklo_epi32(c, d), t3 = _mm512_unpackhi_epi32(c, d);
  a = _mm512_unpacklo_epi64(t0, t2);
  b = _mm512_unpackhi_epi64(t0, t2);
  c = _mm512_unpacklo_epi64(t1, t3);
  d = _mm512_unpackhi_epi64(t1, t3);
}

template <class L>
KILN_AI void load_tile(const RowGroup& g, int64_t block, Tile& t) {
  const int64_t off = block * L::kBytes;
  const uint8_t* const* r = g.rows;
  if constexpr (L::kEightBit) {
    // z[j] = [row j | row j+4], z[4+j] = [row 8+j | row 12+j] (32 bytes each). After the
    // in-lane transposes, lane pairs are regrouped so that lanes come out in row order.
    __m512i z[8];
    for (int j = 0; j < 4; ++j) {
      z[j] = load_2x256(r[j] + off + L::kQs, r[j + 4] + off + L::kQs);
      z[4 + j] = load_2x256(r[8 + j] + off + L::kQs, r[12 + j] + off + L::kQs);
    }
    transpose4(z[0], z[1], z[2], z[3]);
    transpose4(z[4], z[5], z[6], z[7]);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int k = 0; k < 4; ++k) {
      t.q[k] = _mm512_xor_si512(_mm512_shuffle_i64x2(z[k], z[4 + k], 0x88), bias);
      t.q[4 + k] = _mm512_xor_si512(_mm512_shuffle_i64x2(z[k], z[4 + k], 0xDD), bias);
    }
  } else {
    // x[j] = [row j | row j+4 | row j+8 | row j+12] (16 bytes of nibbles each).
    __m512i x[4];
    for (int j = 0; j < 4; ++j) {
      x[j] = load_4x128(r[j] + off + L::kQs, r[j + 4] + off + L::kQs, r[j + 8] + off + L::kQs,
                        r[j + 12] + off + L::kQs);
    }
    transpose4(x[0], x[1], x[2], x[3]);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int k = 0; k < 4; ++k) {
      t.q[k] = _mm512_and_si512(x[k], m4);
      t.q[4 + k] = _mm512_and_si512(_mm512_srli_epi16(x[k], 4), m4);
    }
    if constexpr (L::kQh >= 0) {
      // Element e = 4k + i has its 5th bit at bit e of qh: byte k/2, bit 4*(k%2) + i.
      const __m512i qh = _mm512_i32gather_epi32(g.gather_offsets, r[0] + off + L::kQh, 1);
      const __m512i lane_base = _mm512_set_epi32(
          0x0C0C0C0C, 0x08080808, 0x04040404, 0, 0x0C0C0C0C, 0x08080808, 0x04040404, 0, 0x0C0C0C0C,
          0x08080808, 0x04040404, 0, 0x0C0C0C0C, 0x08080808, 0x04040404, 0);
      const __m512i bit_lo = _mm512_set1_epi32(0x08040201);
      const __m512i bit_hi = _mm512_set1_epi32((int)0x80402010u);
      const __m512i sixteen = _mm512_set1_epi8(0x10);
      for (int k = 0; k < 8; ++k) {
        const __m512i ctrl = _mm512_add_epi32(lane_base, _mm512_set1_epi32(0x01010101 * (k / 2)));
        const __mmask64 bits =
            _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, ctrl), (k & 1) ? bit_hi : bit_lo);
        t.q[k] = _mm512_mask_add_epi8(t.q[k], bits, t.q[k], sixteen);
      }
    }
  }
  // d (and m) are the first (two) fp16 values of the block.
  const __m512i dm = _mm512_i32gather_epi32(g.gather_offsets, r[0] + off, 1);
  t.d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm));
  if constexpr (L::kMin) t.m = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16)));
}

// acc (16 rows) += this block's contribution for one token.
template <class L>
KILN_AI __m512 token_step(const Tile& t, const PanelRecord* a, int64_t block, __m512 acc) {
  // The chain starts from the zero-point correction, a broadcast load (no ALU work).
  __m512i dot = _mm512_set1_epi32(a[block].bias);
  const int8_t* q = a[block].q;
  for (int k = 0; k < 8; ++k) dot = dpbusd_bcast(dot, t.q[k], q + 4 * k);
  acc =
      _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(t.d, _mm512_set1_ps(a[block].d)), acc);
  if constexpr (L::kMin) acc = _mm512_fmadd_ps(t.m, _mm512_set1_ps(a[block].s), acc);
  return acc;
}

// NT tokens with the accumulators in registers (decode and small batches).
template <class L, int NT>
void group_few_tokens(const RowGroup& g, int64_t n, const uint8_t* act, int64_t act_stride,
                      float* out, int64_t out_stride, __mmask16 store_mask) {
  const PanelRecord* a[NT];
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) {
    a[t] = reinterpret_cast<const PanelRecord*>(act + t * act_stride);
    acc[t] = _mm512_setzero_ps();
  }
  // NOTE: the 16 rows are 16 interleaved streams, too many for the hardware prefetcher
  // to follow from L3/DRAM; the next group's rows (contiguous) are prefetched in slices.
  const int64_t nb = n / kQK;
  const int64_t group_bytes = g.stride * kRows;
  const int64_t slice = (group_bytes / nb + 63) & ~int64_t{63};
  const char* next = reinterpret_cast<const char*>(g.rows[0]) + group_bytes * kPrefetchGroups;
  Tile tile;
  for (int64_t b = 0; b < nb; ++b) {
    for (int64_t p = 0; p < slice; p += 64) _mm_prefetch(next + b * slice + p, _MM_HINT_T0);
    load_tile<L>(g, b, tile);
    for (int t = 0; t < NT; ++t) acc[t] = token_step<L>(tile, a[t], b, acc[t]);
  }
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, store_mask, acc[t]);
}

// NT tokens x 16 rows over packed blocks, the accumulators in registers (NT independent
// dependency chains per block; each packed block is loaded once per tile).
template <class L, int NT>
KILN_AI void packed_tile(const Tile* packed, int64_t num_blocks, int64_t first_block,
                         const PanelRecord* const* a, float (*partial)[kRows], bool first,
                         bool last, float* out, int64_t out_stride, __mmask16 store_mask) {
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = first ? _mm512_setzero_ps() : _mm512_load_ps(partial[t]);
  for (int64_t i = 0; i < num_blocks; ++i) {
    const Tile& tile = packed[i];
    for (int t = 0; t < NT; ++t) acc[t] = token_step<L>(tile, a[t], first_block + i, acc[t]);
  }
  for (int t = 0; t < NT; ++t) {
    if (last) {
      _mm512_mask_storeu_ps(out + t * out_stride, store_mask, acc[t]);
    } else {
      _mm512_store_ps(partial[t], acc[t]);
    }
  }
}

// ---------------------------------------------------------------------------------------
// AMX: a packed block's q[0..7] (8 rows of 64 bytes, row k = dword k of the 16 weight
// rows) is already the VNNI layout of an AMX B tile, and 16 tokens' quants of the block
// (32 bytes each, act_stride apart) form the A tile. One tdpbsud (A signed, B unsigned)
// yields the 16 x 16 block dot products; AVX-512 then applies the same zero-point, scale
// and minimum terms as token_step, in the same order, so results equal the VNNI path's
// bit for bit. Tiles: tmm0 C (16 x 64 bytes), tmm1 A (16 x 32), tmm2 B (8 x 64).
// NOTE: written in asm (GNU as knows the mnemonics without -mamx flags); the config goes
// in as a 64-byte memory operand (GCC 12's _tile_loadconfig lets the stores to it be
// dropped, see CPU-NOTES.md).

constexpr int kAmxTokens = 16;
constexpr int kAmxAhead = 2;                // blocks the tile unit runs ahead
constexpr int kAmxBuffers = kAmxAhead + 1;  // C tiles in flight (1 KiB each)

struct alignas(64) AmxConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(AmxConfig) == 64);

KILN_AI void amx_begin() {
  AmxConfig cfg;
  std::memset(&cfg, 0, sizeof(cfg));
  cfg.palette = 1;
  cfg.rows[0] = 16, cfg.colsb[0] = 64;  // C: 16 tokens x 16 rows, int32
  cfg.rows[1] = 16, cfg.colsb[1] = 32;  // A: 16 tokens x 32 bytes
  cfg.rows[2] = 8, cfg.colsb[2] = 64;   // B: 8 dwords x 16 rows
  __asm__ volatile("ldtilecfg %0" : : "m"(cfg));
}

KILN_AI void amx_end() { __asm__ volatile("tilerelease" ::: "memory"); }

// c = A(16 tokens of block, act_stride apart) x B(packed block).
// NOTE: a tile load/store's SIB index register is its row stride, so addresses and
// strides go in explicit registers. The unused "m" operands only tell the compiler which
// memory is read (the packed B tile, written just before in this function) and written
// (c); a "memory" clobber instead would force the 16 accumulators through the stack at
// every block. The A rows were written before the gemm call began.
KILN_AI void amx_block_dot(const int8_t* a, int64_t act_stride, const Tile& b,
                           int32_t (*c)[kRows]) {
  using BTile = int8_t[8 * 64];
  using CTile = int32_t[kAmxTokens * kRows];
  __asm__ volatile(
      "tilezero %%tmm0\n\t"
      "tileloadd (%[a],%[as],1), %%tmm1\n\t"
      "tileloadd (%[b],%[row],1), %%tmm2\n\t"
      "tdpbsud %%tmm2, %%tmm1, %%tmm0\n\t"
      "tilestored %%tmm0, (%[c],%[row],1)"
      : "=m"(*reinterpret_cast<CTile*>(c))
      : [a] "r"(a), [as] "r"(act_stride), [b] "r"(b.q), [row] "r"(int64_t{64}), [c] "r"(c),
        "m"(*reinterpret_cast<const BTile*>(b.q)));
}

// 16 tokens x 16 rows over packed blocks, the accumulators in registers. The tile unit
// runs kAmxAhead blocks ahead of the vector units: a tile store becomes visible to loads
// only after it retires and drains, so scaling a block issued just before would stall.
template <class L>
KILN_AI void amx_tile(const Tile* packed, int64_t num_blocks, int64_t first_block,
                      const PanelRecord* const* a, int64_t act_stride, float (*partial)[kRows],
                      bool first, bool last, float* out, int64_t out_stride, __mmask16 store_mask) {
  __m512 acc[kAmxTokens];
  for (int t = 0; t < kAmxTokens; ++t)
    acc[t] = first ? _mm512_setzero_ps() : _mm512_load_ps(partial[t]);
  alignas(64) int32_t c[kAmxBuffers][kAmxTokens][kRows];
  const int8_t* a0 = a[0][first_block].q;
  for (int64_t i = 0; i < num_blocks && i < kAmxAhead; ++i)
    amx_block_dot(a0 + i * kQ8PanelRecordBytes, act_stride, packed[i], c[i % kAmxBuffers]);
  for (int64_t i = 0; i < num_blocks; ++i) {
    if (i + kAmxAhead < num_blocks) {
      amx_block_dot(a0 + (i + kAmxAhead) * kQ8PanelRecordBytes, act_stride, packed[i + kAmxAhead],
                    c[(i + kAmxAhead) % kAmxBuffers]);
    }
    const Tile& tile = packed[i];
    const int32_t(*ci)[kRows] = c[i % kAmxBuffers];
    for (int t = 0; t < kAmxTokens; ++t) {
      const PanelRecord& r = a[t][first_block + i];
      const __m512i dot = _mm512_add_epi32(_mm512_load_si512(ci[t]), _mm512_set1_epi32(r.bias));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(tile.d, _mm512_set1_ps(r.d)),
                               acc[t]);
      if constexpr (L::kMin) acc[t] = _mm512_fmadd_ps(tile.m, _mm512_set1_ps(r.s), acc[t]);
    }
  }
  for (int t = 0; t < kAmxTokens; ++t) {
    if (last) {
      _mm512_mask_storeu_ps(out + t * out_stride, store_mask, acc[t]);
    } else {
      _mm512_store_ps(partial[t], acc[t]);
    }
  }
}

// Up to kTokenChunk tokens: the group's blocks are transposed once into an L1 buffer
// (kPackBlocks at a time) and reused by every tile of kTileTokens tokens.
template <class L>
void group_packed(const RowGroup& g, int64_t n, const uint8_t* act, int64_t act_stride,
                  int64_t num_tokens, float* out, int64_t out_stride, __mmask16 store_mask,
                  bool amx) {
  const int64_t nb = n / kQK;
  const PanelRecord* a[kTokenChunk];
  for (int64_t t = 0; t < num_tokens; ++t)
    a[t] = reinterpret_cast<const PanelRecord*>(act + t * act_stride);
  alignas(64) float partial[kTokenChunk][kRows];
  alignas(64) Tile packed[kPackBlocks];
  for (int64_t b0 = 0; b0 < nb; b0 += kPackBlocks) {
    const int64_t count = min64(kPackBlocks, nb - b0);
    for (int64_t i = 0; i < count; ++i) load_tile<L>(g, b0 + i, packed[i]);
    const bool first = b0 == 0, last = b0 + count == nb;
    int64_t t = 0;
    if (amx) {
      for (; t + kAmxTokens <= num_tokens; t += kAmxTokens) {
        amx_tile<L>(packed, count, b0, a + t, act_stride, partial + t, first, last,
                    out + t * out_stride, out_stride, store_mask);
      }
    }
    for (; t + kTileTokens <= num_tokens; t += kTileTokens) {
      packed_tile<L, kTileTokens>(packed, count, b0, a + t, partial + t, first, last,
                                  out + t * out_stride, out_stride, store_mask);
    }
    if (num_tokens - t >= 4) {
      packed_tile<L, 4>(packed, count, b0, a + t, partial + t, first, last, out + t * out_stride,
                        out_stride, store_mask);
      t += 4;
    }
    if (num_tokens - t >= 2) {
      packed_tile<L, 2>(packed, count, b0, a + t, partial + t, first, last, out + t * out_stride,
                        out_stride, store_mask);
      t += 2;
    }
    if (num_tokens - t >= 1) {
      packed_tile<L, 1>(packed, count, b0, a + t, partial + t, first, last, out + t * out_stride,
                        out_stride, store_mask);
    }
  }
}

template <class L>
void gemm(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w, int64_t w_stride,
          const void* act, int64_t act_stride, float* out, int64_t out_stride) {
  const auto* act_bytes = static_cast<const uint8_t*>(act);
  const bool amx = num_tokens >= kAmxTokens && amx_enabled();
  if (amx) amx_begin();  // the tile configuration is per thread
  for (int64_t r0 = 0; r0 < num_rows; r0 += kRows) {
    const int nr = (int)min64(kRows, num_rows - r0);
    RowGroup g;
    alignas(64) int32_t offsets[kRows];
    for (int i = 0; i < kRows; ++i) {
      const int ri = i < nr ? i : nr - 1;
      g.rows[i] = static_cast<const uint8_t*>(w) + (r0 + ri) * w_stride;
      offsets[i] = (int32_t)(ri * w_stride);
    }
    g.gather_offsets = _mm512_load_si512(offsets);
    g.stride = w_stride;
    const __mmask16 mask = (__mmask16)((1u << nr) - 1);
    float* o = out + r0;
    switch (num_tokens) {
      case 1:
        group_few_tokens<L, 1>(g, n, act_bytes, act_stride, o, out_stride, mask);
        continue;
      case 2:
        group_few_tokens<L, 2>(g, n, act_bytes, act_stride, o, out_stride, mask);
        continue;
      case 3:
        group_few_tokens<L, 3>(g, n, act_bytes, act_stride, o, out_stride, mask);
        continue;
      case 4:
        group_few_tokens<L, 4>(g, n, act_bytes, act_stride, o, out_stride, mask);
        continue;
      default:
        break;
    }
    for (int64_t t0 = 0; t0 < num_tokens; t0 += kTokenChunk) {
      group_packed<L>(g, n, act_bytes + t0 * act_stride, act_stride,
                      min64(kTokenChunk, num_tokens - t0), o + t0 * out_stride, out_stride, mask,
                      amx);
    }
  }
  if (amx) amx_end();
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

const VecDotKernel* legacy_kernel_avx512(DType weight_type) {
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
