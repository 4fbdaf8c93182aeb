#include <immintrin.h>

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
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu(_mm256_loadu_ps(gate + i)), _mm256_loadu_ps(up + i)));
  for (; i < n; ++i) {
    alignas(32) float g[8] = {gate[i]};
    _mm256_store_ps(g, silu(_mm256_load_ps(g)));
    gate[i] = g[0] * up[i];
  }
}

constexpr VectorKernels kKernels{dot_rows, axpy_rows, exp_sum, silu_mul};

}  // namespace

const VectorKernels* vector_kernels_avx2() { return &kKernels; }

}  // namespace kiln::cpu
