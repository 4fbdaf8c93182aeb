// Scalar reference quantize/dequantize of the "legacy" block types (32 elements a block):
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1. Each function follows ggml's reference
// implementation step for step (same rounding, same clamping), so files written by other
// tools decode identically and activations quantize to the same bytes as ggml's.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln {
namespace {

// ---- Q4_0: x = d * (q - 8); nibble j low = element j, high = element j + 16.
void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = (float)((b[i].qs[j] & 0x0F) - 8) * d;
      dst[j + kQK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void quantize_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(src[j])) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t q0 = (uint8_t)std::min(15, (int)(int8_t)(src[j] * id + 8.5f));
      const uint8_t q1 = (uint8_t)std::min(15, (int)(int8_t)(src[j + kQK / 2] * id + 8.5f));
      b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}

// ---- Q4_1: x = d * q + m.
void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = (float)(b[i].qs[j] & 0x0F) * d + m;
      dst[j + kQK / 2] = (float)(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void quantize_q4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      if (src[j] < min) min = src[j];
      if (src[j] > max) max = src[j];
    }
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t q0 = (uint8_t)std::min(15, (int)(int8_t)((src[j] - min) * id + 0.5f));
      const uint8_t q1 = (uint8_t)std::min(15, (int)(int8_t)((src[j + kQK / 2] - min) * id + 0.5f));
      b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
  }
}

// ---- Q5_0: x = d * (q - 16), q = nibble | (bit j of qh) << 4.
void dequantize_q5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, sizeof(qh));
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = (int)((qh >> j) << 4) & 0x10;
      const int h1 = (int)(qh >> (j + 12)) & 0x10;
      dst[j] = (float)(((b[i].qs[j] & 0x0F) | h0) - 16) * d;
      dst[j + kQK / 2] = (float)(((b[i].qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void quantize_q5_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK; ++j) {
      if (amax < std::fabs(src[j])) {
        amax = std::fabs(src[j]);
        max = src[j];
      }
    }
    const float d = max / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t q0 = (uint8_t)std::min(31, (int)(int8_t)(src[j] * id + 16.5f));
      const uint8_t q1 = (uint8_t)std::min(31, (int)(int8_t)(src[j + kQK / 2] * id + 16.5f));
      b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, sizeof(qh));
  }
}

// ---- Q5_1: x = d * q + m.
void dequantize_q5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, sizeof(qh));
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = (int)((qh >> j) << 4) & 0x10;
      const int h1 = (int)(qh >> (j + 12)) & 0x10;
      dst[j] = (float)((b[i].qs[j] & 0x0F) | h0) * d + m;
      dst[j + kQK / 2] = (float)((b[i].qs[j] >> 4) | h1) * d + m;
    }
  }
}

void quantize_q5_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      if (src[j] < min) min = src[j];
      if (src[j] > max) max = src[j];
    }
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    b[i].m = fp32_to_fp16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const uint8_t q0 = (uint8_t)((src[j] - min) * id + 0.5f);
      const uint8_t q1 = (uint8_t)((src[j + kQK / 2] - min) * id + 0.5f);
      b[i].qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b[i].qh, &qh, sizeof(qh));
  }
}

// ---- Q8_0: x = d * q, d = amax / 127, q = round(x / d) (half away from zero).
void dequantize_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = (float)b[i].qs[j] * d;
  }
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK; ++j) b[i].qs[j] = (int8_t)std::roundf(src[j] * id);
  }
}

// ---- Q8_1: as Q8_0, plus s = d * sum(q) (d before its rounding to fp16).
void dequantize_q8_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_fp32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = (float)b[i].qs[j] * d;
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < kQK; ++j) {
      b[i].qs[j] = (int8_t)std::roundf(src[j] * id);
      sum += b[i].qs[j];
    }
    b[i].s = fp32_to_fp16((float)sum * d);
  }
}

constexpr QuantOps kQ4_0Ops{dequantize_q4_0, quantize_q4_0};
constexpr QuantOps kQ4_1Ops{dequantize_q4_1, quantize_q4_1};
constexpr QuantOps kQ5_0Ops{dequantize_q5_0, quantize_q5_0};
constexpr QuantOps kQ5_1Ops{dequantize_q5_1, quantize_q5_1};
constexpr QuantOps kQ8_0Ops{dequantize_q8_0, quantize_q8_0};
constexpr QuantOps kQ8_1Ops{dequantize_q8_1, quantize_q8_1};

}  // namespace

const QuantOps* legacy_quant_ops(DType type) {
  switch (type) {
    case DType::Q4_0:
      return &kQ4_0Ops;
    case DType::Q4_1:
      return &kQ4_1Ops;
    case DType::Q5_0:
      return &kQ5_0Ops;
    case DType::Q5_1:
      return &kQ5_1Ops;
    case DType::Q8_0:
      return &kQ8_0Ops;
    case DType::Q8_1:
      return &kQ8_1Ops;
    default:
      return nullptr;
  }
}

}  // namespace kiln
