// Scalar reference dot products for F32, F16 and BF16 weights against F32 activations.
#include <cstring>

#include "kernels/cpu/vec_dot_internal.h"
#include "util/fp16.h"

namespace kiln::cpu {
namespace {

void copy_f32(const float* x, void* dst, int64_t n) {
  std::memcpy(dst, x, (size_t)n * sizeof(float));
}

void vec_dot_f32(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const float*>(w_row);
  const auto* x = static_cast<const float*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += w[i] * x[i];
  *s = sum;
}

void vec_dot_f16(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const fp16_t*>(w_row);
  const auto* x = static_cast<const float*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += fp16_to_fp32(w[i]) * x[i];
  *s = sum;
}

void vec_dot_bf16(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const bf16_t*>(w_row);
  const auto* x = static_cast<const float*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += bf16_to_fp32(w[i]) * x[i];
  *s = sum;
}

constexpr VecDotKernel kF32{DType::F32, copy_f32, vec_dot_f32};
constexpr VecDotKernel kF16{DType::F32, copy_f32, vec_dot_f16};
constexpr VecDotKernel kBF16{DType::F32, copy_f32, vec_dot_bf16};

}  // namespace

const VecDotKernel* float_kernel_scalar(DType weight_type) {
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
