// AVX-512 VNNI kernels over the x16 packed layouts (packed_weights.h): the k-quants Q2_K-Q6_K, and
// the legacy Q4_0, Q4_1, Q5_0 and Q8_0.
//
// Each 32-bit lane is one weight row. The k-quants: Per sub-block a lane accumulates its exact
// integer dot product with vpdpbusd (u8 weights x s8 activations, 4 elements per instruction,
// against an activation word broadcast to all 16 rows), multiplies it by its scale
// (vpmulld) and adds it to the super-block's integer sum. The offsets (the mins of Q2_K,
// Q4_K and Q5_K; the +32 and +4 Q6_K and Q3_K quants are stored with) come from the
// activations' 16- and 32-element sums with vpdpwssd. Floats enter once
// per super-block and token:  acc += float(isum) * (d * d_act)  [- float(msum) * (dmin *
// d_act)]. A token's instruction sequence is the same whichever tile it is computed in, so
// one token alone and the same token among 100 give the same bits.
//
// The legacy types: per block, eight vpdpbusd from a start of -zero * sum(a) (the Q8 panel's
// bias), then acc += float(dot) * (d * d_act) [+ m * s_act for Q4_1].
//
// A tile is 16 rows x up to 8 tokens: each unpacked weight vector serves every token of the
// tile; the next tile re-reads the group's records from L1/L2. (The k-quant tiles stopped at
// 4 tokens until 2026-12-05: 8 spills a few registers but measured the same on Q4_K and 6-21%
// faster on Q6_K from 5 tokens up, and a speculative check of 5-8 tokens is then one tile.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/vec_dot_internal.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

inline __m512i bcast32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
inline __m512i load64(const uint8_t* p) { return _mm512_loadu_si512(p); }
inline float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Slice i of 8 of a record's cache lines, into L2.
template <int64_t kRecordBytes>
inline void prefetch_slice(const uint8_t* record, int i) {
  constexpr int64_t kLines = (kRecordBytes + 63) / 64;
  for (int64_t l = i * kLines / 8; l < (i + 1) * kLines / 8; ++l)
    _mm_prefetch(reinterpret_cast<const char*>(record + 64 * l), _MM_HINT_T1);
}

// Q4_K, and Q5_K (kFifthBit): the same scales, mins and nibbles, Q5_K's sub-blocks followed
// by their fifth bits.
template <int N, bool kFifthBit>
void k4_tile(int64_t nb, const uint8_t* group, const uint8_t* const* act, float* out,
             int64_t out_stride, const uint8_t* next) {
  constexpr int64_t kRecordBytes = kFifthBit ? kQ5KPackedBytes : kQ4KPackedBytes;
  constexpr int64_t kSubBytes = kFifthBit ? kQ5KSubBlockBytes : kQ4KSubBlockBytes;
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i bit4 = _mm512_set1_epi8(0x10);
  __m512 acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* w = group + sb * kRecordBytes;
    const uint8_t* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + sb * kPackedActBytes;
    __m512i isum[N], msum[N];
    for (int t = 0; t < N; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      if (next != nullptr) prefetch_slice<kRecordBytes>(next + sb * kRecordBytes, j);
      __m512i dot[N];
      for (int t = 0; t < N; ++t) dot[t] = _mm512_setzero_si512();
      const uint8_t* sub = w + kQ4KQuants + kSubBytes * j;
      __m512i h = _mm512_setzero_si512();
      if constexpr (kFifthBit) h = load64(sub + 256);
      for (int c = 0; c < 4; ++c) {
        const __m512i v = load64(sub + 64 * c);
        __m512i lo, hi;
        if constexpr (kFifthBit) {
          // Bit c of h is the low nibble's fifth bit, bit 4 + c the high one's; 0xCA:
          // bitwise m4 ? nibble : fifth bit (as Q5_0's unpack below).
          lo = _mm512_ternarylogic_epi32(m4, v, _mm512_and_si512(_mm512_slli_epi16(h, 4 - c), bit4),
                                         0xCA);
          hi = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(v, 4),
                                         _mm512_and_si512(_mm512_srli_epi16(h, c), bit4), 0xCA);
        } else {
          lo = _mm512_and_si512(v, m4);
          hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        for (int t = 0; t < N; ++t) {
          dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast32(a[t] + 32 * j + 4 * c));
          dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast32(a[t] + 32 * j + 16 + 4 * c));
        }
      }
      const __m512i sc = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kQ4KScales + 16 * j)));
      for (int t = 0; t < N; ++t)
        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot[t], sc));
    }
    for (int p = 0; p < 4; ++p) {
      const __m512i m = _mm512_cvtepu8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kQ4KMins + 32 * p)));
      for (int t = 0; t < N; ++t)
        msum[t] = _mm512_dpwssd_epi32(msum[t], m, bcast32(a[t] + kPackedActBsum32 + 4 * p));
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
    const __m512 dmin =
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32)));
    for (int t = 0; t < N; ++t) {
      const __m512 da = _mm512_set1_ps(load_f32(a[t] + kPackedActD));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[t]), _mm512_mul_ps(dmin, da), acc[t]);
    }
  }
  for (int t = 0; t < N; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

// The k-quants of 16 sub-blocks of 16: Q6_K and Q3_K have signed 8-bit scales and unsigned
// quants stored with an offset (32 for Q6_K's 6 bits, 4 for Q3_K's 3), taken back out with
// the activations' 16-element sums; Q2_K has 4-bit scales and mins, as Q4_K's.
enum class Sub16 { kQ6, kQ3, kQ2 };

template <int N, Sub16 kKind>
void sub16_tile(int64_t nb, const uint8_t* group, const uint8_t* const* act, float* out,
                int64_t out_stride, const uint8_t* next) {
  constexpr bool kQ3 = kKind == Sub16::kQ3, kQ2 = kKind == Sub16::kQ2;
  constexpr int64_t kRecordBytes =
      kQ2 ? kQ2KPackedBytes : kQ3 ? kQ3KPackedBytes : kQ6KPackedBytes;
  constexpr int64_t kScales = kQ2 ? kQ2KScales : kQ6KScales;
  constexpr int kOffsetShift = kQ3 ? 2 : 5;  // log2 of the offset (Q6_K, Q3_K)
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  const __m512i m3 = _mm512_set1_epi8(0x03);
  const __m512i bit2 = _mm512_set1_epi8(0x04);
  __m512 acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* w = group + sb * kRecordBytes;
    const uint8_t* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + sb * kPackedActBytes;
    __m512i isum[N], off[N];
    for (int t = 0; t < N; ++t) isum[t] = off[t] = _mm512_setzero_si512();
    for (int p = 0; p < 8; ++p) {
      if (next != nullptr) prefetch_slice<kRecordBytes>(next + sb * kRecordBytes, p);
      // i16 lanes (scale 2p, scale 2p + 1) per row; as i32: the low and the high half.
      // off sums (scale or, for Q2_K, min) x the activations' 16-element sums.
      const __m256i bytes =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kScales + 32 * p));
      __m512i sc_pair, off_pair;
      if constexpr (kQ2) {
        const __m512i both = _mm512_cvtepu8_epi16(bytes);
        sc_pair = _mm512_and_si512(both, _mm512_set1_epi16(0x0F));
        off_pair = _mm512_srli_epi16(both, 4);
      } else {
        sc_pair = off_pair = _mm512_cvtepi8_epi16(bytes);
      }
      const __m512i sc_even = _mm512_srai_epi32(_mm512_slli_epi32(sc_pair, 16), 16);
      const __m512i sc_odd = _mm512_srai_epi32(sc_pair, 16);
      for (int t = 0; t < N; ++t)
        off[t] = _mm512_dpwssd_epi32(off[t], off_pair, bcast32(a[t] + kPackedActBsum16 + 4 * p));
      const __m512i third = kQ3 ? load64(w + kQ6KQuants + kQ3KPairBytes * p + 128)
                                : _mm512_setzero_si512();
      for (int k = 0; k < 2; ++k) {
        const int j = 2 * p + k;
        __m512i v0, v1, v2, v3;
        if constexpr (kQ2) {
          const __m512i lo = load64(w + kQ2KQuants + kQ2KPairBytes * p + 64 * k);
          v0 = _mm512_and_si512(lo, m3);
          v1 = _mm512_and_si512(_mm512_srli_epi16(lo, 2), m3);
          v2 = _mm512_and_si512(_mm512_srli_epi16(lo, 4), m3);
          v3 = _mm512_and_si512(_mm512_srli_epi16(lo, 6), m3);
        } else if constexpr (kQ3) {
          // Vector i: bits 2i, 2i + 1 of the low plane, and bit 4k + i of the third-bit plane
          // moved to bit 2 (0xCA: bitwise m3 ? low bits : third bit).
          const __m512i lo = load64(w + kQ6KQuants + kQ3KPairBytes * p + 64 * k);
          const __m512i h = k == 0 ? third : _mm512_srli_epi16(third, 4);
          v0 = _mm512_ternarylogic_epi32(m3, lo, _mm512_and_si512(_mm512_slli_epi16(h, 2), bit2),
                                         0xCA);
          v1 = _mm512_ternarylogic_epi32(m3, _mm512_srli_epi16(lo, 2),
                                         _mm512_and_si512(_mm512_slli_epi16(h, 1), bit2), 0xCA);
          v2 = _mm512_ternarylogic_epi32(m3, _mm512_srli_epi16(lo, 4), _mm512_and_si512(h, bit2),
                                         0xCA);
          v3 = _mm512_ternarylogic_epi32(m3, _mm512_srli_epi16(lo, 6),
                                         _mm512_and_si512(_mm512_srli_epi16(h, 1), bit2), 0xCA);
        } else {
          const uint8_t* sub = w + kQ6KQuants + kQ6KSubBlockBytes * j;
          const __m512i w0 = load64(sub);
          const __m512i w1 = load64(sub + 64);
          const __m512i h = load64(sub + 128);
          // 0xCA: bitwise m4 ? nibble : high bits.
          v0 = _mm512_ternarylogic_epi32(m4, w0, _mm512_and_si512(_mm512_slli_epi16(h, 4), m30),
                                         0xCA);
          v1 = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(w0, 4),
                                         _mm512_and_si512(_mm512_slli_epi16(h, 2), m30), 0xCA);
          v2 = _mm512_ternarylogic_epi32(m4, w1, _mm512_and_si512(h, m30), 0xCA);
          v3 = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(w1, 4),
                                         _mm512_and_si512(_mm512_srli_epi16(h, 2), m30), 0xCA);
        }
        const __m512i sc = k == 0 ? sc_even : sc_odd;
        for (int t = 0; t < N; ++t) {
          const uint8_t* x = a[t] + 16 * j;
          __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v0, bcast32(x));
          dot = _mm512_dpbusd_epi32(dot, v1, bcast32(x + 4));
          dot = _mm512_dpbusd_epi32(dot, v2, bcast32(x + 8));
          dot = _mm512_dpbusd_epi32(dot, v3, bcast32(x + 12));
          isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot, sc));
        }
      }
    }
    const __m512 d = _mm512_loadu_ps(w);
    for (int t = 0; t < N; ++t) {
      const __m512 da = _mm512_set1_ps(load_f32(a[t] + kPackedActD));
      if constexpr (kQ2) {
        const __m512 dmin = _mm512_loadu_ps(w + kQ2KDmin);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, da), acc[t]);
        acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(off[t]), _mm512_mul_ps(dmin, da), acc[t]);
      } else {
        // The quants are stored + 32 (+ 4): subtract 32 (4) * sum_j scale_j * bsum16_j.
        const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(off[t], kOffsetShift));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, da), acc[t]);
      }
    }
  }
  for (int t = 0; t < N; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

// The legacy types: a block's 16 rows unpacked into eight vectors of unsigned quants;
// vector k pairs with the activation dword at act_offset(k).
template <DType kType>
struct Legacy;

inline void unpack_nibbles(const uint8_t* nib, __m512i* q) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int c = 0; c < 4; ++c) {
    const __m512i v = load64(nib + 64 * c);
    q[2 * c] = _mm512_and_si512(v, m4);
    q[2 * c + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
  }
}
constexpr int nibble_act_offset(int k) { return (k % 2) * 16 + 4 * (k / 2); }

template <>
struct Legacy<DType::Q4_0> {
  static constexpr int64_t kRecordBytes = kQ4_0PackedBytes;
  static constexpr bool kMin = false;
  static void unpack(const uint8_t* rec, int block, __m512i* q) {
    unpack_nibbles(rec + 64 + 256 * block, q);
  }
  static constexpr int act_offset(int k) { return nibble_act_offset(k); }
};

template <>
struct Legacy<DType::Q4_1> {
  static constexpr int64_t kRecordBytes = kQ4_1PackedBytes;
  static constexpr bool kMin = true;
  static void unpack(const uint8_t* rec, int block, __m512i* q) {
    unpack_nibbles(rec + 128 + 256 * block, q);
  }
  static constexpr int act_offset(int k) { return nibble_act_offset(k); }
};

template <>
struct Legacy<DType::Q5_0> {
  static constexpr int64_t kRecordBytes = kQ5_0PackedBytes;
  static constexpr bool kMin = false;
  static void unpack(const uint8_t* rec, int block, __m512i* q) {
    const uint8_t* blk = rec + 64 + 320 * block;
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i bit4 = _mm512_set1_epi8(0x10);
    const __m512i h = load64(blk + 256);
    // Fifth bit of the low nibble of chunk c: bit c of h, moved to bit 4; of the high
    // nibble: bit 4 + c. 0xCA: bitwise m4 ? nibble : fifth bit.
    const __m512i h_lo[4] = {_mm512_slli_epi16(h, 4), _mm512_slli_epi16(h, 3),
                             _mm512_slli_epi16(h, 2), _mm512_slli_epi16(h, 1)};
    const __m512i h_hi[4] = {h, _mm512_srli_epi16(h, 1), _mm512_srli_epi16(h, 2),
                             _mm512_srli_epi16(h, 3)};
    for (int c = 0; c < 4; ++c) {
      const __m512i v = load64(blk + 64 * c);
      q[2 * c] = _mm512_ternarylogic_epi32(m4, v, _mm512_and_si512(h_lo[c], bit4), 0xCA);
      q[2 * c + 1] = _mm512_ternarylogic_epi32(m4, _mm512_srli_epi16(v, 4),
                                               _mm512_and_si512(h_hi[c], bit4), 0xCA);
    }
  }
  static constexpr int act_offset(int k) { return nibble_act_offset(k); }
};

template <>
struct Legacy<DType::Q8_0> {
  static constexpr int64_t kRecordBytes = kQ8_0PackedBytes;
  static constexpr bool kMin = false;
  static void unpack(const uint8_t* rec, int block, __m512i* q) {
    for (int k = 0; k < 8; ++k) q[k] = load64(rec + 64 + 512 * block + 64 * k);
  }
  static constexpr int act_offset(int k) { return 4 * k; }
};

// The Q8 panel record of one (token, block) (vec_dot_internal.h).
constexpr int64_t kPanelD = 32, kPanelS = 36, kPanelBias = 40;

template <DType kType, int N>
void legacy_tile(int64_t nrec, const uint8_t* group, const uint8_t* const* act, float* out,
                 int64_t out_stride, const uint8_t* next) {
  using L = Legacy<kType>;
  // The next group's lines are prefetched a few per block (when gemm passes `next`): on
  // SmolLM2's shapes with 16 tokens and the weights in DRAM, 15-27% faster on one thread
  // (matmul_dram in bench/matmul_bench.cpp); into L1 (T0) it was slower for Q8_0, and
  // two groups ahead slower for both.
  const int64_t next_lines = nrec * L::kRecordBytes / 64, steps = 2 * nrec;
  __m512 acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nrec; ++i) {
    const uint8_t* w = group + i * L::kRecordBytes;
    for (int block = 0; block < 2; ++block) {
      if (next != nullptr) {
        const int64_t step = 2 * i + block;
        for (int64_t l = step * next_lines / steps; l < (step + 1) * next_lines / steps; ++l)
          _mm_prefetch(reinterpret_cast<const char*>(next + 64 * l), _MM_HINT_T1);
      }
      __m512i q[8];
      L::unpack(w, block, q);
      const __m512 dw =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 32 * block)));
      for (int t = 0; t < N; ++t) {
        const uint8_t* a = act[t] + (2 * i + block) * kQ8PanelRecordBytes;
        // Two chains of four vpdpbusd, not one of eight: a token's chain is contiguous in
        // program order, and its latency showed (in-cache 16-token tiles 4-12% faster).
        // Integer sums, so the bits do not change.
        __m512i dot = bcast32(a + kPanelBias);  // -zero * sum(a): the zero point taken out
        __m512i dot2 = _mm512_setzero_si512();
        for (int k = 0; k < 8; k += 2) {
          dot = _mm512_dpbusd_epi32(dot, q[k], bcast32(a + L::act_offset(k)));
          dot2 = _mm512_dpbusd_epi32(dot2, q[k + 1], bcast32(a + L::act_offset(k + 1)));
        }
        dot = _mm512_add_epi32(dot, dot2);
        const __m512 da = _mm512_set1_ps(load_f32(a + kPanelD));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, da), acc[t]);
        if constexpr (L::kMin) {
          const __m512 mw = _mm512_cvtph_ps(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 + 32 * block)));
          acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(load_f32(a + kPanelS)), acc[t]);
        }
      }
    }
  }
  for (int t = 0; t < N; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

// Tile<N>::run computes 16 rows x N tokens over `records` records of one group.
template <int N>
struct Q4KTile {
  static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o, int64_t s,
                  const uint8_t* next) {
    k4_tile<N, false>(records, g, a, o, s, next);
  }
};
template <int N>
struct Q5KTile {
  static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o, int64_t s,
                  const uint8_t* next) {
    k4_tile<N, true>(records, g, a, o, s, next);
  }
};
template <int N>
struct Q6KTile {
  static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o, int64_t s,
                  const uint8_t* next) {
    sub16_tile<N, Sub16::kQ6>(records, g, a, o, s, next);
  }
};
template <int N>
struct Q3KTile {
  static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o, int64_t s,
                  const uint8_t* next) {
    sub16_tile<N, Sub16::kQ3>(records, g, a, o, s, next);
  }
};
template <int N>
struct Q2KTile {
  static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o, int64_t s,
                  const uint8_t* next) {
    sub16_tile<N, Sub16::kQ2>(records, g, a, o, s, next);
  }
};
template <DType kType>
struct LegacyTile {
  template <int N>
  struct Of {
    static void run(int64_t records, const uint8_t* g, const uint8_t* const* a, float* o,
                    int64_t s, const uint8_t* next) {
      legacy_tile<kType, N>(records, g, a, o, s, next);
    }
  };
};

// Runs Tile<n>::run for a run-time n in [1, kMax].
template <template <int> class Tile, int kMax>
void run_tile(int n, int64_t records, const uint8_t* g, const uint8_t* const* a, float* o,
              int64_t s, const uint8_t* next) {
  if constexpr (kMax > 1) {
    if (n < kMax) return run_tile<Tile, kMax - 1>(n, records, g, a, o, s, next);
  }
  Tile<kMax>::run(records, g, a, o, s, next);
}

// Records per group and tokens per tile: each unpacked weight vector serves every token
// of the tile; the next tile re-reads the group's records from L1/L2.
template <template <int> class Tile, int kMaxTokens, int64_t kRecordBytes, int64_t kRecordElements>
void gemm(int64_t n, const void* groups, int64_t num_groups, const void* act, int64_t act_stride,
          int64_t num_tokens, float* out, int64_t out_stride, bool group_after) {
  KILN_DCHECK(n % kRecordElements == 0);
  const int64_t records = n / kRecordElements;
  const auto* g0 = static_cast<const uint8_t*>(groups);
  const auto* a0 = static_cast<const uint8_t*>(act);
  for (int64_t g = 0; g < num_groups; ++g) {
    const uint8_t* group = g0 + g * records * kRecordBytes;
    // Two tiles (batched decode): the first tile's pass over the group is the one that
    // misses, and the hardware prefetchers (which stop at 4 KiB page boundaries) do not run
    // far enough ahead of it; the tiles prefetch the next group meanwhile, past the last of
    // this call's groups too when the caller says the thread reads on (a task's first group
    // waited otherwise: 6-15% from DRAM, matmul_dram). With more tiles (prompts) the
    // group's reuse hides the misses, and the extra requests measured 3-6% slower.
    const uint8_t* next = num_tokens > kMaxTokens && num_tokens <= 2 * kMaxTokens &&
                                  (g + 1 < num_groups || group_after)
                              ? group + records * kRecordBytes
                              : nullptr;
    for (int64_t t = 0; t < num_tokens; t += kMaxTokens) {
      const int nt = (int)(num_tokens - t < kMaxTokens ? num_tokens - t : kMaxTokens);
      const uint8_t* a[kMaxTokens];
      for (int i = 0; i < nt; ++i) a[i] = a0 + (t + i) * act_stride;
      run_tile<Tile, kMaxTokens>(nt, records, group, a, out + t * out_stride + g * kPackRows,
                                 out_stride, t == 0 ? next : nullptr);
    }
  }
}

}  // namespace

// The scalar quantize_packed_act, vectorised with the same arithmetic: the sign-carrying
// absolute maximum (the first element of largest magnitude, as the scalar loop keeps),
// one float multiply per element and round-to-nearest-even, so the bytes are identical.
void quantize_packed_act_avx512(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K, out += kPackedActBytes) {
    __m512 amax_v = _mm512_setzero_ps();
    for (int k = 0; k < kQK_K; k += 16)
      amax_v = _mm512_max_ps(amax_v, _mm512_and_ps(_mm512_loadu_ps(x + k), abs_mask));
    const float amax = _mm512_reduce_max_ps(amax_v);
    float max = 0;
    if (amax > 0) {
      for (int k = 0; k < kQK_K; k += 16) {
        const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(x + k), abs_mask),
                                                 _mm512_set1_ps(amax), _CMP_EQ_OQ);
        if (hit != 0) {
          max = x[k + __builtin_ctz(hit)];
          break;
        }
      }
    }
    int16_t sum16[16], sum32[8];
    if (max == 0) {
      std::memset(out, 0, kPackedActBytes);
      continue;
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    const __m512i limit = _mm512_set1_epi32(127);
    for (int k = 0; k < kQK_K; k += 16) {
      const __m512i q =
          _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + k))), limit);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), _mm512_cvtepi32_epi8(q));
      sum16[k / 16] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    for (int j = 0; j < 8; ++j) sum32[j] = static_cast<int16_t>(sum16[2 * j] + sum16[2 * j + 1]);
    const float d = 1 / iscale;
    std::memcpy(out + kPackedActD, &d, 4);
    std::memcpy(out + kPackedActBsum16, sum16, sizeof(sum16));
    std::memcpy(out + kPackedActBsum32, sum32, sizeof(sum32));
    std::memset(out + kPackedActBsum32 + sizeof(sum32), 0,
                kPackedActBytes - kPackedActBsum32 - sizeof(sum32));
  }
}

PackedGemmFn packed_gemm_avx512(DType type) {
  switch (type) {
    case DType::Q4_K:
      return gemm<Q4KTile, 8, kQ4KPackedBytes, kQK_K>;
    case DType::Q5_K:
      return gemm<Q5KTile, 8, kQ5KPackedBytes, kQK_K>;
    case DType::Q6_K:
      return gemm<Q6KTile, 8, kQ6KPackedBytes, kQK_K>;
    case DType::Q2_K:
      return gemm<Q2KTile, 8, kQ2KPackedBytes, kQK_K>;
    case DType::Q3_K:
      return gemm<Q3KTile, 8, kQ3KPackedBytes, kQK_K>;
    case DType::Q4_0:
      return gemm<LegacyTile<DType::Q4_0>::Of, 8, kQ4_0PackedBytes, 2 * kQK>;
    case DType::Q4_1:
      return gemm<LegacyTile<DType::Q4_1>::Of, 8, kQ4_1PackedBytes, 2 * kQK>;
    case DType::Q5_0:
      return gemm<LegacyTile<DType::Q5_0>::Of, 8, kQ5_0PackedBytes, 2 * kQK>;
    case DType::Q8_0:
      return gemm<LegacyTile<DType::Q8_0>::Of, 8, kQ8_0PackedBytes, 2 * kQK>;
    default:
      return nullptr;
  }
}

}  // namespace kiln::cpu
