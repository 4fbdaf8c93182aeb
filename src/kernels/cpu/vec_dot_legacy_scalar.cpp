// Scalar reference dot products of the legacy quant types against quantized activations,
// as ggml pairs them: Q4_0/Q5_0/Q8_0 with Q8_0, Q4_1/Q5_1 with Q8_1. Integer sums per
// block, then one float multiply-add per block (the SIMD kernels reorder only the float
// additions across blocks).
#include <cstring>

#include "kernels/cpu/vec_dot_internal.h"
#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln::cpu {
namespace {

void quantize_act_q8_0(const float* x, void* dst, int64_t n) {
  legacy_quant_ops(DType::Q8_0)->quantize(x, dst, n);
}
void quantize_act_q8_1(const float* x, void* dst, int64_t n) {
  legacy_quant_ops(DType::Q8_1)->quantize(x, dst, n);
}

void vec_dot_q4_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ4_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((w[i].qs[j] & 0x0F) - 8) * a[i].qs[j];
      sumi += ((w[i].qs[j] >> 4) - 8) * a[i].qs[j + kQK / 2];
    }
    sum += (float)sumi * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  *s = sum;
}

void vec_dot_q4_1(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ4_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += (w[i].qs[j] & 0x0F) * a[i].qs[j];
      sumi += (w[i].qs[j] >> 4) * a[i].qs[j + kQK / 2];
    }
    sum += (float)sumi * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  *s = sum;
}

void vec_dot_q5_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ5_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, w[i].qh, sizeof(qh));
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = (int)((qh >> j) << 4) & 0x10;
      const int h1 = (int)(qh >> (j + 12)) & 0x10;
      sumi += (((w[i].qs[j] & 0x0F) | h0) - 16) * a[i].qs[j];
      sumi += (((w[i].qs[j] >> 4) | h1) - 16) * a[i].qs[j + kQK / 2];
    }
    sum += (float)sumi * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  *s = sum;
}

void vec_dot_q5_1(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ5_1*>(w_row);
  const auto* a = static_cast<const BlockQ8_1*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    uint32_t qh;
    std::memcpy(&qh, w[i].qh, sizeof(qh));
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = (int)((qh >> j) << 4) & 0x10;
      const int h1 = (int)(qh >> (j + 12)) & 0x10;
      sumi += ((w[i].qs[j] & 0x0F) | h0) * a[i].qs[j];
      sumi += ((w[i].qs[j] >> 4) | h1) * a[i].qs[j + kQK / 2];
    }
    sum += (float)sumi * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d)) +
           fp16_to_fp32(w[i].m) * fp16_to_fp32(a[i].s);
  }
  *s = sum;
}

void vec_dot_q8_0(int64_t n, float* s, const void* w_row, const void* act) {
  const auto* w = static_cast<const BlockQ8_0*>(w_row);
  const auto* a = static_cast<const BlockQ8_0*>(act);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int sumi = 0;
    for (int j = 0; j < kQK; ++j) sumi += w[i].qs[j] * a[i].qs[j];
    sum += (float)sumi * (fp16_to_fp32(w[i].d) * fp16_to_fp32(a[i].d));
  }
  *s = sum;
}

constexpr VecDotKernel kQ4_0{DType::Q8_0, quantize_act_q8_0, vec_dot_q4_0};
constexpr VecDotKernel kQ4_1{DType::Q8_1, quantize_act_q8_1, vec_dot_q4_1};
constexpr VecDotKernel kQ5_0{DType::Q8_0, quantize_act_q8_0, vec_dot_q5_0};
constexpr VecDotKernel kQ5_1{DType::Q8_1, quantize_act_q8_1, vec_dot_q5_1};
constexpr VecDotKernel kQ8_0{DType::Q8_0, quantize_act_q8_0, vec_dot_q8_0};

}  // namespace

const VecDotKernel* legacy_kernel_scalar(DType weight_type) {
  switch (weight_type) {
    case DType::Q4_0:
      return &kQ4_0;
    case DType::Q4_1:
      return &kQ4_1;
    case DType::Q5_0:
      return &kQ5_0;
    case DType::Q5_1:
      return &kQ5_1;
    case DType::Q8_0:
      return &kQ8_0;
    default:
      return nullptr;
  }
}

}  // namespace kiln::cpu
