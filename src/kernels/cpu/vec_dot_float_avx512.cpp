// AVX-512 kernels for F32, F16 and BF16 weights against F32 activations.
//
// gemm ("dot form"): a register tile of 4 weight rows x NT tokens (NT <= 4) walks the row
// 16 elements at a time; each weight vector is converted to F32 once and feeds NT FMAs.
// The 4 x NT accumulators are reduced together at the end (a transpose-and-add that
// yields the 4 rows' sums of one token in one 128-bit vector). Tails (n not a multiple of
// 16) use masked loads.
#include <immintrin.h>

#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {
namespace {

#define KILN_AI inline __attribute__((always_inline))

// NOTE: no std:: templates or util/ inline functions here (see vec_dot.h).
KILN_AI int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct F32Weights {
  using T = float;
  static KILN_AI __m512 load(const T* p) { return _mm512_loadu_ps(p); }
  static KILN_AI __m512 load_tail(const T* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};
struct F16Weights {
  using T = uint16_t;
  static KILN_AI __m512 load(const T* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static KILN_AI __m512 load_tail(const T* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct BF16Weights {
  using T = uint16_t;
  static KILN_AI __m512 widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static KILN_AI __m512 load(const T* p) {
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static KILN_AI __m512 load_tail(const T* p, __mmask16 m) {
    return widen(_mm256_maskz_loadu_epi16(m, p));
  }
};

KILN_AI float hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

template <class W>
void vec_dot(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const typename W::T*>(w_row);
  const auto* x = static_cast<const float*>(act);
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(W::load(w + i), _mm512_loadu_ps(x + i), acc0);
    acc1 = _mm512_fmadd_ps(W::load(w + i + 16), _mm512_loadu_ps(x + i + 16), acc1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
    acc0 = _mm512_fmadd_ps(W::load_tail(w + i, m), _mm512_maskz_loadu_ps(m, x + i), acc0);
  }
  *s = hsum512(_mm512_add_ps(acc0, acc1));
}

// [sum(a), sum(b), sum(c), sum(d)].
KILN_AI __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // ab lane = [a0+a2, b0+b2, a1+a3, b1+b3]; pair them with cd's.
  const __m512 abcd = _mm512_add_ps(
      _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))),
      _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(ab), _mm512_castps_pd(cd))));
  // Each 128-bit lane now holds partial [a, b, c, d]; add the four lanes.
  const __m256 h =
      _mm256_add_ps(_mm512_castps512_ps256(abcd),
                    _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

constexpr int kTileRows = 4;

// 4 rows x NT tokens over the whole row length.
template <class W, int NT>
KILN_AI void tile(int64_t n, const typename W::T* const* w, const float* const* x, float* out,
                  int64_t out_stride, __mmask8 store_mask) {
  __m512 acc[kTileRows][NT];
  for (int r = 0; r < kTileRows; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm512_loadu_ps(x[t] + i);
    for (int r = 0; r < kTileRows; ++r) {
      const __m512 wv = W::load(w[r] + i);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m512 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm512_maskz_loadu_ps(m, x[t] + i);
    for (int r = 0; r < kTileRows; ++r) {
      const __m512 wv = W::load_tail(w[r] + i, m);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    const __m128 sums = hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
    _mm_mask_storeu_ps(out + t * out_stride, store_mask, sums);
  }
}

template <class W>
void gemm(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w, int64_t w_stride,
          const void* act, int64_t act_stride, float* out, int64_t out_stride) {
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* ab = static_cast<const uint8_t*>(act);
  for (int64_t r0 = 0; r0 < num_rows; r0 += kTileRows) {
    const int nr = (int)min64(kTileRows, num_rows - r0);
    const typename W::T* rows[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      rows[r] =
          reinterpret_cast<const typename W::T*>(wb + (r0 + (r < nr ? r : nr - 1)) * w_stride);
    }
    const __mmask8 mask = (__mmask8)((1u << nr) - 1);
    for (int64_t t0 = 0; t0 < num_tokens; t0 += 4) {
      const int nt = (int)min64(4, num_tokens - t0);
      const float* x[4];
      for (int t = 0; t < 4; ++t)
        x[t] = reinterpret_cast<const float*>(ab + (t0 + (t < nt ? t : nt - 1)) * act_stride);
      float* o = out + t0 * out_stride + r0;
      switch (nt) {
        case 1:
          tile<W, 1>(n, rows, x, o, out_stride, mask);
          break;
        case 2:
          tile<W, 2>(n, rows, x, o, out_stride, mask);
          break;
        case 3:
          tile<W, 3>(n, rows, x, o, out_stride, mask);
          break;
        default:
          tile<W, 4>(n, rows, x, o, out_stride, mask);
          break;
      }
    }
  }
}

void copy_f32(const float* x, void* dst, int64_t n) {
  float* y = static_cast<float*>(dst);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i];
}

constexpr VecDotKernel kF32{DType::F32, copy_f32, vec_dot<F32Weights>,
                            nullptr,    nullptr,  gemm<F32Weights>};
constexpr VecDotKernel kF16{DType::F32, copy_f32, vec_dot<F16Weights>,
                            nullptr,    nullptr,  gemm<F16Weights>};
constexpr VecDotKernel kBF16{DType::F32, copy_f32, vec_dot<BF16Weights>,
                             nullptr,    nullptr,  gemm<BF16Weights>};

}  // namespace

const VecDotKernel* float_kernel_avx512(DType weight_type) {
  switch (weight_type) {
    case DType::F32:
      return &kF32;
    case DType::F16:
      return &kF16;
    case DType::BF16:
      return &kBF16;
    default:
      return nullptr;
  }
}

}  // namespace kiln::cpu
