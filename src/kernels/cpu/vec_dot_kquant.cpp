// Registry of the k-quant dot-product kernels (Q2_K..Q6_K weights, Q8_K activations). The
// SIMD tiers also offer gemm, whose activations are the same Q8_K blocks in 64-byte
// aligned rows; the scalar tier leaves matmul to call vec_dot per (row, token).
#include "kernels/cpu/vec_dot_kquant.h"

#include "kernels/cpu/vec_dot.h"
#include "tensor/quants.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kQ8KBlockBytes = sizeof(BlockQ8_K);

// NOTE: every ISA shares the scalar Q8_K quantizer: it costs O(n) per activation row
// against O(rows * n) for the dot products, and sharing it keeps the activations (and so
// the results) identical across ISAs.
void quantize_act_q8_k(const float* x, void* dst, int64_t n) {
  static const QuantOps* const ops = kquant_quant_ops(DType::Q8_K);
  ops->quantize(x, dst, n);
}

// Rows of Q8_K blocks, each row padded to a multiple of 64 bytes.
int64_t gemm_act_row_bytes(int64_t n) { return (n / kQK_K * kQ8KBlockBytes + 63) / 64 * 64; }

using VecDotFn = void (*)(int64_t, float*, const void*, const void*);
using GemmFn = decltype(VecDotKernel::gemm);

struct KquantKernels {
  VecDotKernel scalar, avx2, avx512;
};

constexpr KquantKernels make(VecDotFn scalar, VecDotFn avx2, GemmFn gemm_avx2, VecDotFn avx512,
                             GemmFn gemm_avx512) {
  return {
      {DType::Q8_K, quantize_act_q8_k, scalar},
      {DType::Q8_K, quantize_act_q8_k, avx2, gemm_act_row_bytes, quantize_act_q8_k, gemm_avx2},
      {DType::Q8_K, quantize_act_q8_k, avx512, gemm_act_row_bytes, quantize_act_q8_k, gemm_avx512}};
}

constexpr KquantKernels kQ2K =
    make(vec_dot_q2_k_q8_k_scalar, vec_dot_q2_k_q8_k_avx2, gemm_q2_k_q8_k_avx2,
         vec_dot_q2_k_q8_k_avx512, gemm_q2_k_q8_k_avx512);
constexpr KquantKernels kQ3K =
    make(vec_dot_q3_k_q8_k_scalar, vec_dot_q3_k_q8_k_avx2, gemm_q3_k_q8_k_avx2,
         vec_dot_q3_k_q8_k_avx512, gemm_q3_k_q8_k_avx512);
constexpr KquantKernels kQ4K =
    make(vec_dot_q4_k_q8_k_scalar, vec_dot_q4_k_q8_k_avx2, gemm_q4_k_q8_k_avx2,
         vec_dot_q4_k_q8_k_avx512, gemm_q4_k_q8_k_avx512);
constexpr KquantKernels kQ5K =
    make(vec_dot_q5_k_q8_k_scalar, vec_dot_q5_k_q8_k_avx2, gemm_q5_k_q8_k_avx2,
         vec_dot_q5_k_q8_k_avx512, gemm_q5_k_q8_k_avx512);
constexpr KquantKernels kQ6K =
    make(vec_dot_q6_k_q8_k_scalar, vec_dot_q6_k_q8_k_avx2, gemm_q6_k_q8_k_avx2,
         vec_dot_q6_k_q8_k_avx512, gemm_q6_k_q8_k_avx512);

}  // namespace

const VecDotKernel* kquant_vec_dot_kernel(DType weight_type, Isa isa) {
  const KquantKernels* k = nullptr;
  switch (weight_type) {
    case DType::Q2_K:
      k = &kQ2K;
      break;
    case DType::Q3_K:
      k = &kQ3K;
      break;
    case DType::Q4_K:
      k = &kQ4K;
      break;
    case DType::Q5_K:
      k = &kQ5K;
      break;
    case DType::Q6_K:
      k = &kQ6K;
      break;
    default:
      return nullptr;
  }
  switch (isa) {
    case Isa::kScalar:
      return &k->scalar;
    case Isa::kAvx2:
      return &k->avx2;
    case Isa::kAvx512:
      return &k->avx512;
  }
  return nullptr;
}

}  // namespace kiln::cpu
