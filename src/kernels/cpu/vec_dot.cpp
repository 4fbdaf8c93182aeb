#include "kernels/cpu/vec_dot.h"

namespace kiln::cpu {

const VecDotKernel* vec_dot_kernel(DType weight_type, Isa isa) {
  if (const VecDotKernel* k = float_vec_dot_kernel(weight_type, isa)) return k;
  if (const VecDotKernel* k = legacy_vec_dot_kernel(weight_type, isa)) return k;
  return kquant_vec_dot_kernel(weight_type, isa);
}

}  // namespace kiln::cpu
