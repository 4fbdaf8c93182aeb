// AVX2 (+FMA, F16C) kernels for F32, F16 and BF16 weights against F32 activations.
//
// gemm ("dot form"): a register tile of 4 weight rows x NT tokens (NT <= 2, so that the
// accumulators and operands fit the 16 YMM registers) walks the row 8 elements at a
// time; the accumulators are reduced together at the end. Tails (n not a multiple of 8)
// go through a zero-padded copy.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {
namespace {

#define KILN_AI inline __attribute__((always_inline))

// NOTE: no std:: templates or util/ inline functions here (see vec_dot.h).
KILN_AI int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct F32Weights {
  using T = float;
  static KILN_AI __m256 load(const T* p) { return _mm256_loadu_ps(p); }
};
struct F16Weights {
  using T = uint16_t;
  static KILN_AI __m256 load(const T* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};
struct BF16Weights {
  using T = uint16_t;
  static KILN_AI __m256 load(const T* p) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
};

// The last n % 8 elements, zero padded, in a vector (n - i < 8 elements from p).
template <class W>
KILN_AI __m256 load_tail_w(const typename W::T* p, int64_t count) {
  typename W::T tmp[8] = {};
  std::memcpy(tmp, p, (size_t)count * sizeof(typename W::T));
  return W::load(tmp);
}
KILN_AI __m256 load_tail_x(const float* p, int64_t count) {
  float tmp[8] = {};
  std::memcpy(tmp, p, (size_t)count * sizeof(float));
  return _mm256_loadu_ps(tmp);
}

KILN_AI float hsum256(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

template <class W>
void vec_dot(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const typename W::T*>(w_row);
  const auto* x = static_cast<const float*>(act);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(W::load(w + i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(W::load(w + i + 8), _mm256_loadu_ps(x + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(W::load(w + i), _mm256_loadu_ps(x + i), acc0);
  if (i < n) acc1 = _mm256_fmadd_ps(load_tail_w<W>(w + i, n - i), load_tail_x(x + i, n - i), acc1);
  *s = hsum256(_mm256_add_ps(acc0, acc1));
}

// [sum(a), sum(b), sum(c), sum(d)].
KILN_AI __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

constexpr int kTileRows = 4;
constexpr int kTileTokens = 2;

template <class W, int NT>
KILN_AI void tile(int64_t n, const typename W::T* const* w, const float* const* x, float* out,
                  int64_t out_stride, int nr) {
  __m256 acc[kTileRows][NT];
  for (int r = 0; r < kTileRows; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = _mm256_loadu_ps(x[t] + i);
    for (int r = 0; r < kTileRows; ++r) {
      const __m256 wv = W::load(w[r] + i);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (i < n) {
    __m256 xv[NT];
    for (int t = 0; t < NT; ++t) xv[t] = load_tail_x(x[t] + i, n - i);
    for (int r = 0; r < kTileRows; ++r) {
      const __m256 wv = load_tail_w<W>(w[r] + i, n - i);
      for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    const __m128 sums = hsum4(acc[0][t], acc[1][t], acc[2][t], acc[3][t]);
    if (nr == kTileRows) {
      _mm_storeu_ps(out + t * out_stride, sums);
    } else {
      alignas(16) float tmp[4];
      _mm_store_ps(tmp, sums);
      for (int r = 0; r < nr; ++r) out[t * out_stride + r] = tmp[r];
    }
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
    for (int64_t t0 = 0; t0 < num_tokens; t0 += kTileTokens) {
      const float* x[kTileTokens];
      for (int t = 0; t < kTileTokens; ++t)
        x[t] = reinterpret_cast<const float*>(ab + min64(t0 + t, num_tokens - 1) * act_stride);
      float* o = out + t0 * out_stride + r0;
      if (num_tokens - t0 == 1) {
        tile<W, 1>(n, rows, x, o, out_stride, nr);
      } else {
        tile<W, 2>(n, rows, x, o, out_stride, nr);
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

const VecDotKernel* float_kernel_avx2(DType weight_type) {
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
