// AVX-512 (F/BW/VL/DQ + VNNI) dot products of k-quant weight rows with Q8_K activations.
//
// A weight super-block is first unpacked into registers: its quants as *unsigned* bytes
// in element order (Q3_K: q + 4, Q6_K: q + 32), four zmm of 64, and per 64-element step
// the sub-block scale of each i16 lane (vpermw). Against one token's Q8_K block, each
// step is vpmaddubsw (u8 x s8 pairs into i16; exact: 2 * 63 * 128 < 32767) then
// vpdpwssd (pairs times scale, into i32). The offsets — mins of Q2/4/5_K, the +4 / +32 of
// Q3_K / Q6_K — come out per 16-element group through the activations' bsums. Every sum
// is exact in int32; floats enter once per super-block and token.
//
// gemm reuses each unpacked super-block for a tile of tokens; vec_dot is the same code
// with one token, so both give bit-identical results.
//
// NOTE: GCC 12 at -O1 with sanitizers reports -Wmaybe-uninitialized inside its own
// intrinsic headers (the self-initialised _mm*_undefined_* helpers); not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/vec_dot_kquant.h"
#include "tensor/dtype.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

// vpermw indices: for step k (64 elements; i16 lane i holds the pair 64k + 2i, +1), the
// sub-block of lane i is (64k + 2i) / sub_size.
struct ScaleIndex {
  alignas(64) int16_t lanes[4][32];
};
constexpr ScaleIndex make_scale_index(int sub_size) {
  ScaleIndex r{};
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 32; ++i) r.lanes[k][i] = static_cast<int16_t>((64 * k + 2 * i) / sub_size);
  return r;
}
constexpr ScaleIndex kIndex16 = make_scale_index(16);
constexpr ScaleIndex kIndex32 = make_scale_index(32);

inline __m512i scale_lanes(const ScaleIndex& index, int step, __m512i scales16) {
  return _mm512_permutexvar_epi16(_mm512_load_si512(index.lanes[step]), scales16);
}

inline __m512i load64(const void* p) { return _mm512_loadu_si512(p); }
inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// F16C conversion (exact, as util/fp16.h's portable one, in one instruction).
inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

// Bytes 0..31 test bit `bit`, bytes 32..63 bit `bit + 1`, of a 32-byte mask given twice.
inline __mmask64 bit_pair_mask(__m512i bits_twice, int bit) {
  const __m512i select =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi8(static_cast<char>(1 << bit))),
                         _mm256_set1_epi8(static_cast<char>(1 << (bit + 1))), 1);
  return _mm512_test_epi8_mask(bits_twice, select);
}

// [v, v >> shift] (16-bit shifts; callers mask the bytes afterwards).
inline __m512i with_shifted_copy(__m256i v, int shift) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, shift), 1);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// One weight super-block, unpacked. value(e) = d * scale(e) * w(e) - dmin * mins16[e / 16]
// for the types with mins; for Q3_K / Q6_K value(e) = d * scale(e) * (w(e) - offset) and
// offset_scales[g] = offset * scale of group g.
struct Unpacked {
  __m512i w[4];
  __m512i scale[4];
  __m256i group;  // mins16 (Q2/4/5_K) or offset_scales (Q3/6_K), i16 per 16 elements
  float d;
  float neg_dmin;
};

// Q4_K / Q5_K 12-byte scales -> 8 scales (bytes 0..7) and 8 mins (bytes 8..15), as in ggml.
inline void unpack_scales_k4(const uint8_t* packed, Unpacked& u) {
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  uint32_t utmp[4];
  std::memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
  const __m128i both =
      _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(utmp[1]), static_cast<int>(utmp[0])));
  const __m128i mins =
      _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(utmp[3]), static_cast<int>(utmp[2])));
  const __m512i scales16 = _mm512_zextsi128_si512(both);
  for (int k = 0; k < 4; ++k) u.scale[k] = scale_lanes(kIndex32, k, scales16);
  // Each min covers two 16-element groups.
  u.group = _mm256_set_m128i(_mm_unpackhi_epi16(mins, mins), _mm_unpacklo_epi16(mins, mins));
}

// Q3_K 12-byte scales -> 16 signed scales as i16. Low 4 bits: bytes 0..7 (low nibble for
// scales 0..7, high for 8..15); high 2 bits of scale j: bits 2 (j / 4) of byte 8 + j % 4.
inline __m256i unpack_scales_q3_k(const uint8_t* packed) {
  uint32_t high_bytes;
  std::memcpy(&high_bytes, packed + 8, 4);
  const __m128i low8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed));
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m128i low =
      _mm_unpacklo_epi64(_mm_and_si128(low8, m4), _mm_and_si128(_mm_srli_epi16(low8, 4), m4));
  // 32-bit lane k holds high_bytes >> 2k: its byte m is then scale 4k + m's high bits.
  const __m128i high = _mm_and_si128(
      _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(high_bytes)), _mm_setr_epi32(0, 2, 4, 6)),
      _mm_set1_epi8(3));
  const __m128i scales = _mm_or_si128(low, _mm_slli_epi16(high, 4));
  return _mm256_sub_epi16(_mm256_cvtepu8_epi16(scales), _mm256_set1_epi16(32));
}

inline void set_symmetric_scales(__m256i scales16, int offset_shift, Unpacked& u) {
  const __m512i s = _mm512_zextsi256_si512(scales16);
  for (int k = 0; k < 4; ++k) u.scale[k] = scale_lanes(kIndex16, k, s);
  u.group = _mm256_slli_epi16(scales16, offset_shift);
}

struct Q2K {
  using Block = BlockQ2_K;
  static constexpr bool kMin = true;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = -fp16(x.dmin);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    const __m128i m4 = _mm_set1_epi8(0xF);
    u.group = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    const __m512i scales16 = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)));
    for (int k = 0; k < 4; ++k) u.scale[k] = scale_lanes(kIndex16, k, scales16);
    const __m512i m3 = _mm512_set1_epi8(3);
    for (int half = 0; half < 2; ++half) {
      // Element 128 half + 32 f + l is 2-bit field f of qs[32 half + l]; bytes 0..31 of
      // q2 hold fields 0 and 2, bytes 32..63 fields 1 and 3.
      const __m512i q2 = with_shifted_copy(load32(x.qs + 32 * half), 2);
      u.w[2 * half] = _mm512_and_si512(q2, m3);
      u.w[2 * half + 1] = _mm512_and_si512(_mm512_srli_epi16(q2, 4), m3);
    }
  }
};

struct Q3K {
  using Block = BlockQ3_K;
  static constexpr bool kMin = false;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = 0;
    set_symmetric_scales(unpack_scales_q3_k(x.scales), 2, u);  // stored q + 4
    const __m512i m3 = _mm512_set1_epi8(3);
    const __m512i four = _mm512_set1_epi8(4);
    const __m512i hmask = _mm512_broadcast_i64x4(load32(x.hmask));
    for (int half = 0; half < 2; ++half) {
      const __m512i q2 = with_shifted_copy(load32(x.qs + 32 * half), 2);
      for (int k = 0; k < 2; ++k) {
        const int step = 2 * half + k;
        const __m512i w = _mm512_and_si512(k ? _mm512_srli_epi16(q2, 4) : q2, m3);
        // hmask bit b of byte l is the third bit of element 32b + l.
        u.w[step] = _mm512_mask_add_epi8(w, bit_pair_mask(hmask, 2 * step), w, four);
      }
    }
  }
};

inline void unpack_nibbles(const uint8_t* qs, Unpacked& u) {
  const __m512i m4 = _mm512_set1_epi8(0xF);
  // Low nibbles of qs[32k ..] are elements 64k + 0..31, high nibbles 64k + 32..63.
  for (int k = 0; k < 4; ++k)
    u.w[k] = _mm512_and_si512(with_shifted_copy(load32(qs + 32 * k), 4), m4);
}

struct Q4K {
  using Block = BlockQ4_K;
  static constexpr bool kMin = true;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = -fp16(x.dmin);
    unpack_scales_k4(x.scales, u);
    unpack_nibbles(x.qs, u);
  }
};

struct Q5K {
  using Block = BlockQ5_K;
  static constexpr bool kMin = true;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = -fp16(x.dmin);
    unpack_scales_k4(x.scales, u);
    unpack_nibbles(x.qs, u);
    const __m512i sixteen = _mm512_set1_epi8(16);
    const __m512i qh = _mm512_broadcast_i64x4(load32(x.qh));
    // qh bit b of byte l is the fifth bit of element 32b + l.
    for (int k = 0; k < 4; ++k)
      u.w[k] = _mm512_mask_add_epi8(u.w[k], bit_pair_mask(qh, 2 * k), u.w[k], sixteen);
  }
};

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr bool kMin = false;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = 0;
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    set_symmetric_scales(scales16, 5, u);  // stored q + 32
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const __m512i m30 = _mm512_set1_epi8(0x30);
    for (int half = 0; half < 2; ++half) {
      // Per 128 elements: element 32s + l takes the low (s < 2) or high nibble of
      // ql[32 (s & 1) + l] and bits 2s..2s+1 of qh[l].
      const __m512i ql = load64(x.ql + 64 * half);
      const __m512i qh = with_shifted_copy(load32(x.qh + 32 * half), 2);
      u.w[2 * half] = _mm512_or_si512(_mm512_and_si512(ql, m4),
                                      _mm512_and_si512(_mm512_slli_epi16(qh, 4), m30));
      u.w[2 * half + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                          _mm512_and_si512(qh, m30));
    }
  }
};

// acc += d_w * d_a * sum(scale * w * a); acc_m += -dmin_w * d_a * sum(mins * bsums).
template <bool kMin>
inline void accumulate(const Unpacked& u, const BlockQ8_K& y, __m512& acc, __m256& acc_m) {
  const __m256i group_sums = _mm256_madd_epi16(load32(y.bsums), u.group);
  __m512i sumi;
  if constexpr (kMin) {
    sumi = _mm512_setzero_si512();
    acc_m =
        _mm256_fmadd_ps(_mm256_set1_ps(u.neg_dmin * y.d), _mm256_cvtepi32_ps(group_sums), acc_m);
  } else {
    sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), group_sums));
  }
  for (int k = 0; k < 4; ++k) {
    const __m512i p = _mm512_maddubs_epi16(u.w[k], load64(y.qs + 64 * k));
    sumi = _mm512_dpwssd_epi32(sumi, p, u.scale[k]);
  }
  acc = _mm512_fmadd_ps(_mm512_set1_ps(u.d * y.d), _mm512_cvtepi32_ps(sumi), acc);
}

// out[t * out_stride] = dot(row x, token t) for kTokens tokens.
template <class T, int kTokens>
void dot_tokens(int64_t nb, const typename T::Block* x, const uint8_t* act, int64_t act_stride,
                float* out, int64_t out_stride) {
  __m512 acc[kTokens];
  __m256 acc_m[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    acc[t] = _mm512_setzero_ps();
    acc_m[t] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < nb; ++i) {
    Unpacked u;
    T::unpack(x[i], u);
    for (int t = 0; t < kTokens; ++t) {
      const auto* y = reinterpret_cast<const BlockQ8_K*>(act + t * act_stride);
      accumulate<T::kMin>(u, y[i], acc[t], acc_m[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    float sum = _mm512_reduce_add_ps(acc[t]);
    if constexpr (T::kMin) sum += hsum(acc_m[t]);
    out[t * out_stride] = sum;
  }
}

// Tokens per pass over a weight row: each unpacked super-block serves this many tokens.
constexpr int kTokenTile = 4;

template <class T>
void vec_dot(int64_t n, float* s, const void* w_row, const void* act) {
  KILN_DCHECK(n % kQK_K == 0);
  dot_tokens<T, 1>(n / kQK_K, static_cast<const typename T::Block*>(w_row),
                   static_cast<const uint8_t*>(act), 0, s, 0);
}

template <class T>
void gemm(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w, int64_t w_stride,
          const void* act, int64_t act_stride, float* out, int64_t out_stride) {
  KILN_DCHECK(n % kQK_K == 0);
  const int64_t nb = n / kQK_K;
  const auto* a = static_cast<const uint8_t*>(act);
  for (int64_t r = 0; r < num_rows; ++r) {
    const auto* x =
        reinterpret_cast<const typename T::Block*>(static_cast<const uint8_t*>(w) + r * w_stride);
    int64_t t = 0;
    for (; t + kTokenTile <= num_tokens; t += kTokenTile)
      dot_tokens<T, kTokenTile>(nb, x, a + t * act_stride, act_stride, out + t * out_stride + r,
                                out_stride);
    const uint8_t* rest = a + t * act_stride;
    float* rest_out = out + t * out_stride + r;
    switch (num_tokens - t) {
      case 3:
        dot_tokens<T, 3>(nb, x, rest, act_stride, rest_out, out_stride);
        break;
      case 2:
        dot_tokens<T, 2>(nb, x, rest, act_stride, rest_out, out_stride);
        break;
      case 1:
        dot_tokens<T, 1>(nb, x, rest, act_stride, rest_out, out_stride);
        break;
      default:
        break;
    }
  }
}

}  // namespace

void vec_dot_q2_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q2K>(n, s, w_row, act);
}
void vec_dot_q3_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q3K>(n, s, w_row, act);
}
void vec_dot_q4_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q4K>(n, s, w_row, act);
}
void vec_dot_q5_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q5K>(n, s, w_row, act);
}
void vec_dot_q6_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q6K>(n, s, w_row, act);
}

void gemm_q2_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride) {
  gemm<Q2K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q3_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride) {
  gemm<Q3K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q4_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride) {
  gemm<Q4K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q5_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride) {
  gemm<Q5K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q6_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride) {
  gemm<Q6K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}

}  // namespace kiln::cpu
