// Scalar reference conversions for the float weight types F32, F16 and BF16.
#include <cstring>

#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln {
namespace {

void dequantize_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, (size_t)n * sizeof(float));
}
void quantize_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, (size_t)n * sizeof(float));
}

void dequantize_f16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const fp16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
}
void quantize_f16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<fp16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_fp16(src[i]);
}

void dequantize_bf16(const void* src, float* dst, int64_t n) {
  const auto* h = static_cast<const bf16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
}
void quantize_bf16(const float* src, void* dst, int64_t n) {
  auto* h = static_cast<bf16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = fp32_to_bf16(src[i]);
}

constexpr QuantOps kF32Ops{dequantize_f32, quantize_f32};
constexpr QuantOps kF16Ops{dequantize_f16, quantize_f16};
constexpr QuantOps kBF16Ops{dequantize_bf16, quantize_bf16};

}  // namespace

const QuantOps* float_quant_ops(DType type) {
  switch (type) {
    case DType::F32:
      return &kF32Ops;
    case DType::F16:
      return &kF16Ops;
    case DType::BF16:
      return &kBF16Ops;
    default:
      return nullptr;
  }
}

}  // namespace kiln
