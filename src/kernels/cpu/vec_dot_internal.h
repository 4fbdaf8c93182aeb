// Internal to kernels/cpu: the per-ISA kernel tables behind float_vec_dot_kernel() and
// legacy_vec_dot_kernel(), and the activation layout shared by the legacy gemm kernels.
// Each getter is defined in the translation unit compiled for its ISA and returns nullptr
// for a weight type it has no kernel for. Callers must check isa_supported() first.
#pragma once

#include <cstdint>

#include "kernels/cpu/vec_dot.h"

namespace kiln::cpu {

const VecDotKernel* float_kernel_scalar(DType weight_type);
const VecDotKernel* float_kernel_avx2(DType weight_type);
const VecDotKernel* float_kernel_avx512(DType weight_type);

const VecDotKernel* legacy_kernel_scalar(DType weight_type);
const VecDotKernel* legacy_kernel_avx2(DType weight_type);
const VecDotKernel* legacy_kernel_avx512(DType weight_type);

// "Q8 panel" rows: the activations of every legacy gemm kernel (AVX2 and AVX-512 alike).
// A row of n elements is nb = n / 32 records of kQ8PanelRecordBytes, one per block:
//   int8  q[32]     the Q8_0/Q8_1 quants (identical to the reference quantizer's)
//   float d         the block scale, rounded through fp16 as in a Q8_0/Q8_1 block
//   float s         fp16-rounded d * sum(q), as Q8_1's s (used by Q4_1/Q5_1)
//   int32 bias      -z * sum(q), where z is the zero point the kernel gives the weight
//                   type's quants (8 for Q4_0, 16 for Q5_0, 0 for Q4_1/Q5_1; Q8_0's is
//                   ISA-specific), so the kernel's gemm_quantize_act differs per type
//   int32 unused
// padded to a multiple of 64 bytes. Everything a kernel needs for one (token, block) is
// at one address, so a tile of tokens costs one pointer per token.
// Defined in vec_dot_legacy.cpp (baseline code).
constexpr int64_t kQ8PanelRecordBytes = 48;

// AMX-INT8 for the prompt path of the AVX-512 legacy gemm kernels (tiles of 16 tokens x
// 16 rows per block). amx_int8_available(): the CPU has AMX-TILE/INT8 and the OS granted
// this process the tile state (asked once, thread-safe). The path is off unless
// KILN_AMX=1 is in the environment (see the NOTE in vec_dot_legacy.cpp); set_amx_enabled()
// switches it (tests compare both). Defined in vec_dot_legacy.cpp.
bool amx_int8_available();
bool amx_enabled();
void set_amx_enabled(bool enabled);
int64_t q8_panel_row_bytes(int64_t n);

}  // namespace kiln::cpu
