// AVX2 dot products of k-quant weight rows with Q8_K activations.
//
// Same scheme as the AVX-512 file with 32 elements per step: a weight super-block is
// unpacked to its quants as unsigned bytes in element order (Q3_K: q + 4, Q6_K: q + 32)
// and the i16 sub-block scale of each lane; per token, vpmaddubsw against the signed
// activations (exact: 2 * 63 * 128 < 32767), vpmaddwd with the scales, int32 sums. Mins
// and the +4 / +32 offsets come out through the bsums. gemm reuses each unpacked
// super-block for a tile of tokens; vec_dot is the same code with one token.
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

// vpshufb controls over a register holding 8 i16 scales in each 128-bit lane.
struct ShuffleTable {
  alignas(32) uint8_t bytes[8][32];
};
// kPairShuffle[r]: low lane = scale 2r, high lane = scale 2r + 1 (16-element sub-blocks:
// a 32-element step spans two of them).
constexpr ShuffleTable make_pair_shuffle() {
  ShuffleTable t{};
  for (int r = 0; r < 4; ++r) {
    for (int i = 0; i < 32; ++i) {
      const int scale = 2 * r + (i >= 16 ? 1 : 0);
      t.bytes[r][i] = static_cast<uint8_t>(2 * scale + (i & 1));
    }
  }
  return t;
}
// kBroadcastShuffle[k]: every lane = scale k (32-element sub-blocks).
constexpr ShuffleTable make_broadcast_shuffle() {
  ShuffleTable t{};
  for (int k = 0; k < 8; ++k)
    for (int i = 0; i < 32; ++i) t.bytes[k][i] = static_cast<uint8_t>(2 * k + (i & 1));
  return t;
}
constexpr ShuffleTable kPairShuffle = make_pair_shuffle();
constexpr ShuffleTable kBroadcastShuffle = make_broadcast_shuffle();

inline __m256i pick(const ShuffleTable& table, int row, __m256i scales) {
  return _mm256_shuffle_epi8(scales,
                             _mm256_load_si256(reinterpret_cast<const __m256i*>(table.bytes[row])));
}

// Both 128-bit lanes = lane `half` of v (the immediate must be a constant even at -O0).
inline __m256i lane_half(__m256i v, int half) {
  return half ? _mm256_permute2x128_si256(v, v, 0x11) : _mm256_permute2x128_si256(v, v, 0x00);
}

// F16C conversion (exact, like util/fp16.h's portable one, but one instruction).
inline float fp16(uint16_t h) { return _cvtsh_ss(h); }

inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Moves bit `from` of every byte to bit `to` (16-bit shifts: the caller masks bit `to`,
// which no neighbouring byte's bits reach for |to - from| <= 5).
inline __m256i move_bit(__m256i v, int from, int to) {
  return to >= from ? _mm256_slli_epi16(v, to - from) : _mm256_srli_epi16(v, from - to);
}

inline float hsum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}
inline float hsum(__m256 v) {
  return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

// One weight super-block, unpacked (see the AVX-512 file): value(e) = d * scale(e) * w(e)
// - dmin * mins16[e / 16], or for Q3_K / Q6_K d * scale(e) * (w(e) - offset) with
// group = offset * scale per 16 elements.
// NOTE: the per-step scale vectors are made when used (one vpshufb from scale_src), which
// keeps vec_dot within the 16 ymm registers; gemm hides the shuffle behind the multiplies.
struct Unpacked {
  __m256i w[8];
  __m256i scale_src[2];  // i16 scales in both lanes: 0..7 / 8..15 (Q4/5_K: [0] only)
  __m256i group;
  float d;
  float neg_dmin;
};

// Q4_K / Q5_K 12-byte scales -> 8 scales and 8 mins (ggml's bit shuffle).
inline void unpack_scales_k4(const uint8_t* packed, Unpacked& u) {
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  uint32_t utmp[4];
  std::memcpy(utmp, packed, 12);
  utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
  const uint32_t uaux = utmp[1] & kmask1;
  utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
  utmp[2] = uaux;
  utmp[0] &= kmask1;
  u.scale_src[0] = _mm256_broadcastsi128_si256(
      _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(utmp[1]), static_cast<int>(utmp[0]))));
  const __m128i mins =
      _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, static_cast<int>(utmp[3]), static_cast<int>(utmp[2])));
  // Each min covers two 16-element groups.
  u.group = _mm256_set_m128i(_mm_unpackhi_epi16(mins, mins), _mm_unpacklo_epi16(mins, mins));
}

// Q3_K 12-byte scales -> 16 signed scales as i16 (see the AVX-512 file).
inline __m256i unpack_scales_q3_k(const uint8_t* packed) {
  uint32_t high_bytes;
  std::memcpy(&high_bytes, packed + 8, 4);
  const __m128i low8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed));
  const __m128i m4 = _mm_set1_epi8(0xF);
  const __m128i low =
      _mm_unpacklo_epi64(_mm_and_si128(low8, m4), _mm_and_si128(_mm_srli_epi16(low8, 4), m4));
  const __m128i high = _mm_and_si128(
      _mm_srlv_epi32(_mm_set1_epi32(static_cast<int>(high_bytes)), _mm_setr_epi32(0, 2, 4, 6)),
      _mm_set1_epi8(3));
  const __m128i scales = _mm_or_si128(low, _mm_slli_epi16(high, 4));
  return _mm256_sub_epi16(_mm256_cvtepu8_epi16(scales), _mm256_set1_epi16(32));
}

// 16 scales, one per 16-element group.
inline void set_group_scales(__m256i scales16, Unpacked& u) {
  u.scale_src[0] = lane_half(scales16, 0);
  u.scale_src[1] = lane_half(scales16, 1);
}

// The i16 scale of each lane of step k (32 elements): groups 2k and 2k + 1 for 16-element
// sub-blocks, sub-block k for 32-element ones.
template <bool kSub32>
inline __m256i step_scales(const Unpacked& u, int k) {
  if constexpr (kSub32) return pick(kBroadcastShuffle, k, u.scale_src[0]);
  return pick(kPairShuffle, k % 4, u.scale_src[k / 4]);
}

struct Q2K {
  using Block = BlockQ2_K;
  static constexpr bool kSub32 = false;
  static constexpr bool kMin = true;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = -fp16(x.dmin);
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales));
    const __m128i m4 = _mm_set1_epi8(0xF);
    u.group = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
    set_group_scales(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)), u);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; ++half) {
      // Element 128 half + 32 f + l is 2-bit field f of qs[32 half + l].
      const __m256i q2 = load32(x.qs + 32 * half);
      for (int f = 0; f < 4; ++f)
        u.w[4 * half + f] = _mm256_and_si256(_mm256_srli_epi16(q2, 2 * f), m3);
    }
  }
};

struct Q3K {
  using Block = BlockQ3_K;
  static constexpr bool kSub32 = false;
  static constexpr bool kMin = false;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = 0;
    const __m256i scales16 = unpack_scales_q3_k(x.scales);
    set_group_scales(scales16, u);
    u.group = _mm256_slli_epi16(scales16, 2);  // stored q + 4
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i bit2 = _mm256_set1_epi8(4);
    const __m256i hmask = load32(x.hmask);
    for (int half = 0; half < 2; ++half) {
      const __m256i q2 = load32(x.qs + 32 * half);
      for (int f = 0; f < 4; ++f) {
        const int step = 4 * half + f;
        // hmask bit b of byte l is the third bit of element 32b + l.
        const __m256i high = _mm256_and_si256(move_bit(hmask, step, 2), bit2);
        u.w[step] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q2, 2 * f), m3), high);
      }
    }
  }
};

inline void unpack_nibbles(const uint8_t* qs, Unpacked& u) {
  const __m256i m4 = _mm256_set1_epi8(0xF);
  // Low nibbles of qs[32c ..] are elements 64c + 0..31, high nibbles 64c + 32..63.
  for (int c = 0; c < 4; ++c) {
    const __m256i v = load32(qs + 32 * c);
    u.w[2 * c] = _mm256_and_si256(v, m4);
    u.w[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  }
}

struct Q4K {
  using Block = BlockQ4_K;
  static constexpr bool kSub32 = true;
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
  static constexpr bool kSub32 = true;
  static constexpr bool kMin = true;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = -fp16(x.dmin);
    unpack_scales_k4(x.scales, u);
    unpack_nibbles(x.qs, u);
    const __m256i bit4 = _mm256_set1_epi8(16);
    const __m256i qh = load32(x.qh);
    // qh bit b of byte l is the fifth bit of element 32b + l.
    for (int k = 0; k < 8; ++k)
      u.w[k] = _mm256_or_si256(u.w[k], _mm256_and_si256(move_bit(qh, k, 4), bit4));
  }
};

struct Q6K {
  using Block = BlockQ6_K;
  static constexpr bool kSub32 = false;
  static constexpr bool kMin = false;
  static void unpack(const Block& x, Unpacked& u) {
    u.d = fp16(x.d);
    u.neg_dmin = 0;
    const __m256i scales16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x.scales)));
    set_group_scales(scales16, u);
    u.group = _mm256_slli_epi16(scales16, 5);  // stored q + 32
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    for (int half = 0; half < 2; ++half) {
      // Per 128 elements: element 32s + l takes the low (s < 2) or high nibble of
      // ql[32 (s & 1) + l] and bits 2s..2s+1 of qh[l].
      const __m256i ql0 = load32(x.ql + 64 * half);
      const __m256i ql1 = load32(x.ql + 64 * half + 32);
      const __m256i qh = load32(x.qh + 32 * half);
      __m256i* w = u.w + 4 * half;
      w[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      w[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
                             _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      w[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                             _mm256_and_si256(qh, m30));
      w[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                             _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
  }
};

// acc += d_w * d_a * sum(scale * w * a); acc_m += -dmin_w * d_a * sum(mins * bsums).
template <class T>
inline void accumulate(const Unpacked& u, const BlockQ8_K& y, __m256& acc, __m256& acc_m) {
  constexpr bool kMin = T::kMin;
  const __m256i group_sums = _mm256_madd_epi16(load32(y.bsums), u.group);
  __m256i sumi;
  if constexpr (kMin) {
    sumi = _mm256_setzero_si256();
    acc_m =
        _mm256_fmadd_ps(_mm256_set1_ps(u.neg_dmin * y.d), _mm256_cvtepi32_ps(group_sums), acc_m);
  } else {
    sumi = _mm256_sub_epi32(_mm256_setzero_si256(), group_sums);
  }
  for (int k = 0; k < 8; ++k) {
    const __m256i p = _mm256_maddubs_epi16(u.w[k], load32(y.qs + 32 * k));
    sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, step_scales<T::kSub32>(u, k)));
  }
  acc = _mm256_fmadd_ps(_mm256_set1_ps(u.d * y.d), _mm256_cvtepi32_ps(sumi), acc);
}

// out[t * out_stride] = dot(row x, token t) for kTokens tokens.
template <class T, int kTokens>
void dot_tokens(int64_t nb, const typename T::Block* x, const uint8_t* act, int64_t act_stride,
                float* out, int64_t out_stride) {
  __m256 acc[kTokens];
  __m256 acc_m[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    acc[t] = _mm256_setzero_ps();
    acc_m[t] = _mm256_setzero_ps();
  }
  for (int64_t i = 0; i < nb; ++i) {
    Unpacked u;
    T::unpack(x[i], u);
    for (int t = 0; t < kTokens; ++t) {
      const auto* y = reinterpret_cast<const BlockQ8_K*>(act + t * act_stride);
      accumulate<T>(u, y[i], acc[t], acc_m[t]);
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    float sum = hsum(acc[t]);
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

void vec_dot_q2_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q2K>(n, s, w_row, act);
}
void vec_dot_q3_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q3K>(n, s, w_row, act);
}
void vec_dot_q4_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q4K>(n, s, w_row, act);
}
void vec_dot_q5_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q5K>(n, s, w_row, act);
}
void vec_dot_q6_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<Q6K>(n, s, w_row, act);
}

void gemm_q2_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride) {
  gemm<Q2K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q3_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride) {
  gemm<Q3K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q4_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride) {
  gemm<Q4K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q5_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride) {
  gemm<Q5K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}
void gemm_q6_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride) {
  gemm<Q6K>(n, num_rows, num_tokens, w, w_stride, act, act_stride, out, out_stride);
}

}  // namespace kiln::cpu
