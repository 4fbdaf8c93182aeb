// AVX-512 VNNI kernels over the x16 packed Q4_K / Q6_K layouts (packed_kquant.h).
//
// Each 32-bit lane is one weight row. Per sub-block a lane accumulates its exact integer
// dot product with vpdpbusd (u8 weights x s8 activations, 4 elements per instruction,
// against an activation word broadcast to all 16 rows), multiplies it by its scale
// (vpmulld) and adds it to the super-block's integer sum. The offsets (Q4_K's mins, Q6_K's
// +32) come from the activations' 16- and 32-element sums with vpdpwssd. Floats enter once
// per super-block and token:  acc += float(isum) * (d * d_act)  [- float(msum) * (dmin *
// d_act)]. A token's instruction sequence is the same whichever tile it is computed in, so
// one token alone and the same token among 100 give the same bits.
//
// A tile is 16 rows x up to 4 tokens: each unpacked weight vector serves every token of
// the tile; the next tile re-reads the group's records from L1/L2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/packed_kquant.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

constexpr int kTokenTile = 4;

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

template <int N>
void q4_k_tile(int64_t nb, const uint8_t* group, const uint8_t* const* act, float* out,
               int64_t out_stride) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  __m512 acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* w = group + sb * kQ4KPackedBytes;
    const uint8_t* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + sb * kPackedActBytes;
    __m512i isum[N], msum[N];
    for (int t = 0; t < N; ++t) isum[t] = msum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 8; ++j) {
      __m512i dot[N];
      for (int t = 0; t < N; ++t) dot[t] = _mm512_setzero_si512();
      for (int c = 0; c < 4; ++c) {
        const __m512i v = load64(w + kQ4KQuants + 64 * (4 * j + c));
        const __m512i lo = _mm512_and_si512(v, m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        for (int t = 0; t < N; ++t) {
          dot[t] = _mm512_dpbusd_epi32(dot[t], lo, bcast32(a[t] + 32 * j + 4 * c));
          dot[t] = _mm512_dpbusd_epi32(dot[t], hi, bcast32(a[t] + 32 * j + 16 + 4 * c));
        }
      }
      const __m512i sc = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + kQ4KScales + 16 * j)));
      for (int t = 0; t < N; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot[t], sc));
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

template <int N>
void q6_k_tile(int64_t nb, const uint8_t* group, const uint8_t* const* act, float* out,
               int64_t out_stride) {
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  __m512 acc[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t sb = 0; sb < nb; ++sb) {
    const uint8_t* w = group + sb * kQ6KPackedBytes;
    const uint8_t* a[N];
    for (int t = 0; t < N; ++t) a[t] = act[t] + sb * kPackedActBytes;
    __m512i isum[N], off[N];
    for (int t = 0; t < N; ++t) isum[t] = off[t] = _mm512_setzero_si512();
    for (int p = 0; p < 8; ++p) {
      // i16 lanes (scale 2p, scale 2p + 1) per row; as i32: the low and the high half.
      const __m512i sc_pair = _mm512_cvtepi8_epi16(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kQ6KScales + 32 * p)));
      const __m512i sc_even = _mm512_srai_epi32(_mm512_slli_epi32(sc_pair, 16), 16);
      const __m512i sc_odd = _mm512_srai_epi32(sc_pair, 16);
      for (int t = 0; t < N; ++t)
        off[t] = _mm512_dpwssd_epi32(off[t], sc_pair, bcast32(a[t] + kPackedActBsum16 + 4 * p));
      for (int k = 0; k < 2; ++k) {
        const int j = 2 * p + k;
        const uint8_t* sub = w + kQ6KQuants + kQ6KSubBlockBytes * j;
        const __m512i w0 = load64(sub);
        const __m512i w1 = load64(sub + 64);
        const __m512i h = load64(sub + 128);
        // 0xCA: bitwise m4 ? nibble : high bits.
        const __m512i v0 = _mm512_ternarylogic_epi32(
            m4, w0, _mm512_and_si512(_mm512_slli_epi16(h, 4), m30), 0xCA);
        const __m512i v1 = _mm512_ternarylogic_epi32(
            m4, _mm512_srli_epi16(w0, 4), _mm512_and_si512(_mm512_slli_epi16(h, 2), m30), 0xCA);
        const __m512i v2 = _mm512_ternarylogic_epi32(m4, w1, _mm512_and_si512(h, m30), 0xCA);
        const __m512i v3 = _mm512_ternarylogic_epi32(
            m4, _mm512_srli_epi16(w1, 4), _mm512_and_si512(_mm512_srli_epi16(h, 2), m30), 0xCA);
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
      // The quants are stored + 32: subtract 32 * sum_j scale_j * bsum16_j.
      const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(off[t], 5));
      const __m512 da = _mm512_set1_ps(load_f32(a[t] + kPackedActD));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, da), acc[t]);
    }
  }
  for (int t = 0; t < N; ++t) _mm512_storeu_ps(out + t * out_stride, acc[t]);
}

using TileFn = void (*)(int64_t, const uint8_t*, const uint8_t* const*, float*, int64_t);

template <TileFn F1, TileFn F2, TileFn F3, TileFn F4, int64_t kRecordBytes>
void gemm(int64_t n, const void* groups, int64_t num_groups, const void* act, int64_t act_stride,
          int64_t num_tokens, float* out, int64_t out_stride) {
  KILN_DCHECK(n % kQK_K == 0);
  const int64_t nb = n / kQK_K;
  const auto* g0 = static_cast<const uint8_t*>(groups);
  const auto* a0 = static_cast<const uint8_t*>(act);
  for (int64_t g = 0; g < num_groups; ++g) {
    const uint8_t* group = g0 + g * nb * kRecordBytes;
    for (int64_t t = 0; t < num_tokens; t += kTokenTile) {
      const int64_t nt = num_tokens - t < kTokenTile ? num_tokens - t : kTokenTile;
      const uint8_t* a[kTokenTile];
      for (int64_t i = 0; i < nt; ++i) a[i] = a0 + (t + i) * act_stride;
      float* o = out + t * out_stride + g * kPackRows;
      switch (nt) {
        case 4:
          F4(nb, group, a, o, out_stride);
          break;
        case 3:
          F3(nb, group, a, o, out_stride);
          break;
        case 2:
          F2(nb, group, a, o, out_stride);
          break;
        default:
          F1(nb, group, a, o, out_stride);
          break;
      }
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
      const __m512i q = _mm512_min_epi32(
          _mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + k))), limit);
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
      return gemm<q4_k_tile<1>, q4_k_tile<2>, q4_k_tile<3>, q4_k_tile<4>, kQ4KPackedBytes>;
    case DType::Q6_K:
      return gemm<q6_k_tile<1>, q6_k_tile<2>, q6_k_tile<3>, q6_k_tile<4>, kQ6KPackedBytes>;
    default:
      return nullptr;
  }
}

}  // namespace kiln::cpu
