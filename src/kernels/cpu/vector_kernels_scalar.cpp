#include <cmath>

#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {
namespace {

void dot_rows(const float* q, const float* k, int64_t k_stride, int64_t num_rows, int64_t dim,
              float scale, float* out) {
  for (int64_t i = 0; i < num_rows; ++i) {
    const float* row = k + i * k_stride;
    float acc = 0;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * row[d];
    out[i] = acc * scale;
  }
}

void axpy_rows(const float* p, const float* v, int64_t v_stride, int64_t num_rows, int64_t dim,
               float* out) {
  for (int64_t i = 0; i < num_rows; ++i) {
    const float* row = v + i * v_stride;
    for (int64_t d = 0; d < dim; ++d) out[d] += p[i] * row[d];
  }
}

float exp_sum(float* x, int64_t n, float max) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  return sum;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

constexpr VectorKernels kKernels{dot_rows, axpy_rows, exp_sum, silu_mul};

}  // namespace

const VectorKernels* vector_kernels_scalar() { return &kKernels; }

const VectorKernels& vector_kernels(Isa isa) {
  if (isa >= Isa::kAvx512 && isa_supported(Isa::kAvx512)) return *vector_kernels_avx512();
  if (isa >= Isa::kAvx2 && isa_supported(Isa::kAvx2)) return *vector_kernels_avx2();
  return kKernels;
}

}  // namespace kiln::cpu
