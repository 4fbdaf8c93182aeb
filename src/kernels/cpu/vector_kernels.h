// Float vector loops of the layer operations (attention over rows of a KV block, the
// softmax exponent, the SwiGLU activation), per instruction set. Internal to kernels/cpu;
// exposed for the SIMD-vs-scalar tests.
#pragma once

#include <cstdint>

#include "util/cpu_features.h"

namespace kiln::cpu {

struct VectorKernels {
  // out[i] = dot(q, k + i * k_stride) * scale over dim floats, for i < num_rows.
  void (*dot_rows)(const float* q, const float* k, int64_t k_stride, int64_t num_rows,
                   int64_t dim, float scale, float* out);
  // out[d] += sum_i p[i] * v[i * v_stride + d], for d < dim.
  void (*axpy_rows)(const float* p, const float* v, int64_t v_stride, int64_t num_rows,
                    int64_t dim, float* out);
  // x[i] = exp(x[i] - max) in place; returns the sum of the results.
  float (*exp_sum)(float* x, int64_t n, float max);
  // gate[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i].
  void (*silu_mul)(float* gate, const float* up, int64_t n);
};

// Best available at or below isa.
const VectorKernels& vector_kernels(Isa isa);

const VectorKernels* vector_kernels_scalar();
const VectorKernels* vector_kernels_avx2();
const VectorKernels* vector_kernels_avx512();

}  // namespace kiln::cpu
