// Registry of the F32/F16/BF16 kernels, per ISA.
#include "kernels/cpu/vec_dot_internal.h"

namespace kiln::cpu {

const VecDotKernel* float_vec_dot_kernel(DType weight_type, Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return float_kernel_scalar(weight_type);
    case Isa::kAvx2:
      return float_kernel_avx2(weight_type);
    case Isa::kAvx512:
      return float_kernel_avx512(weight_type);
  }
  return nullptr;
}

}  // namespace kiln::cpu
