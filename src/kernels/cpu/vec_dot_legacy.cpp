// Registry of the Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 kernels, per ISA.
#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {

int64_t q8_panel_row_bytes(int64_t n) {
  return (n / kQK * kQ8PanelRecordBytes + 63) / 64 * 64;
}

const VecDotKernel* legacy_vec_dot_kernel(DType weight_type, Isa isa) {
  switch (isa) {
    case Isa::kScalar: return legacy_kernel_scalar(weight_type);
    case Isa::kAvx2: return legacy_kernel_avx2(weight_type);
    case Isa::kAvx512: return legacy_kernel_avx512(weight_type);
  }
  return nullptr;
}

}  // namespace kiln::cpu
