// Dot products between one row of weights (in its stored type) and one row of
// activations (in the format that weight type pairs with), per instruction set.
// NOTE: files compiled for AVX2/AVX-512 (*_avx2.cpp, *_avx512.cpp) must keep every helper
// in an anonymous namespace and avoid instantiating std templates shared with baseline
// code, or the linker may hand an AVX-512 copy of an inline function to a baseline caller.
#pragma once

#include <cstdint>

#include "tensor/dtype.h"
#include "util/cpu_features.h"

namespace kiln::cpu {

struct VecDotKernel {
  // Format the activations are converted to before the dot product (F32, Q8_0, Q8_1, Q8_K).
  DType act_type;
  // Converts n floats to act_type (n is a multiple of the weight's block size).
  void (*quantize_act)(const float* x, void* dst, int64_t n);
  // *s = dot(w_row, act) over n elements.
  void (*vec_dot)(int64_t n, float* s, const void* w_row, const void* act);

  // Optional tiled path (nullptr where a kernel has none; matmul then calls vec_dot for each
  // (row, token) pair). gemm computes a rectangle of outputs, reusing each weight block
  // across tokens and each activation block across rows:
  //   out[t * out_stride + r] = dot(W row r, act row t), r < num_rows, t < num_tokens,
  // W row r at (const uint8_t*)w + r * w_stride, act row t at (const uint8_t*)act +
  // t * act_stride. Any num_rows / num_tokens >= 1 is accepted (edges handled inside).
  // Its activations are in the kernel's own layout: rows of gemm_act_row_bytes(n) bytes
  // (a multiple of 64) written by gemm_quantize_act, 64-byte aligned. When
  // gemm_quantize_act is nullptr the rows are the F32 inputs as they are.
  int64_t (*gemm_act_row_bytes)(int64_t n) = nullptr;
  void (*gemm_quantize_act)(const float* x, void* dst, int64_t n) = nullptr;
  void (*gemm)(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w, int64_t w_stride,
               const void* act, int64_t act_stride, float* out, int64_t out_stride) = nullptr;
};

// nullptr when the weight type has no kernel at that ISA (callers fall back to a lower ISA).
const VecDotKernel* vec_dot_kernel(DType weight_type, Isa isa);

// Per-family registries (one per group of translation units).
const VecDotKernel* float_vec_dot_kernel(DType weight_type, Isa isa);
const VecDotKernel* legacy_vec_dot_kernel(DType weight_type, Isa isa);
const VecDotKernel* kquant_vec_dot_kernel(DType weight_type, Isa isa);

}  // namespace kiln::cpu
