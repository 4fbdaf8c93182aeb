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
};

// nullptr when the weight type has no kernel at that ISA (callers fall back to a lower ISA).
const VecDotKernel* vec_dot_kernel(DType weight_type, Isa isa);

// Per-family registries (one per group of translation units).
const VecDotKernel* float_vec_dot_kernel(DType weight_type, Isa isa);
const VecDotKernel* legacy_vec_dot_kernel(DType weight_type, Isa isa);
const VecDotKernel* kquant_vec_dot_kernel(DType weight_type, Isa isa);

}  // namespace kiln::cpu
