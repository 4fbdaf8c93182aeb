// Scalar reference conversions between float and every supported weight type. These are
// the definition of each format that the SIMD kernels are tested against; they are not
// on the inference hot path (except dequantizing single embedding rows).
#pragma once

#include <cstdint>

#include "tensor/dtype.h"

namespace kiln {

struct QuantOps {
  // n is a multiple of the type's block size.
  void (*dequantize)(const void* src, float* dst, int64_t n);
  void (*quantize)(const float* src, void* dst, int64_t n);
};

// The weight types kiln can compute with: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (plus the activation formats Q8_1 and Q8_K).
// Returns nullptr for a type without support.
const QuantOps* quant_ops(DType type);

// The 6-bit scale and min of sub-block j (0..7) from the 12 packed scale bytes of a Q4_K or
// Q5_K block (the GGUF format).
void k4_scale_min(int j, const uint8_t* packed, uint8_t* scale, uint8_t* min);
// The 16 signed scales (less 32, in [-32, 31]) from the 12 packed scale bytes of a Q3_K block.
void unpack_q3_k_scales(const uint8_t* packed, int8_t* scales);

// Per-family tables, defined in quants_float.cpp, quants_legacy.cpp and quants_k.cpp.
const QuantOps* float_quant_ops(DType type);
const QuantOps* legacy_quant_ops(DType type);
const QuantOps* kquant_quant_ops(DType type);

}  // namespace kiln
