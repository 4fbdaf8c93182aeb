#include <immintrin.h>

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
      acc = _mm512_fmadd_ps(_mm512_set1_ps(p[i]), _mm512_maskz_loadu_ps(m, v + i * v_stride + d), acc);
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
    _mm512_storeu_ps(gate + i, _mm512_mul_ps(silu(_mm512_loadu_ps(gate + i)), _mm512_loadu_ps(up + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    const __m512 r = _mm512_mul_ps(silu(_mm512_maskz_loadu_ps(m, gate + i)), _mm512_maskz_loadu_ps(m, up + i));
    _mm512_mask_storeu_ps(gate + i, m, r);
  }
}

constexpr VectorKernels kKernels{dot_rows, axpy_rows, exp_sum, silu_mul};

}  // namespace

const VectorKernels* vector_kernels_avx512() { return &kKernels; }

}  // namespace kiln::cpu
