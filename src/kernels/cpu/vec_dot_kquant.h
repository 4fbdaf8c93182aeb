// Per-ISA k-quant dot products (Q2_K..Q6_K weights against Q8_K activations), gathered by
// kquant_vec_dot_kernel() in vec_dot_kquant.cpp. Internal to kernels/cpu.
//
// Every kernel computes, per super-block, the same exact integer sums and combines them as
//   d_w * d_a * sum_j scale_j * dot_j  -  dmin_w * d_a * sum_j min_j * sum_j(act)
// so the ISAs differ only in the order of the float accumulation; an ISA's gemm gives
// bit-for-bit its vec_dot's result for every (row, token).
// Preconditions: n is a multiple of 256; w_row points to n / 256 weight blocks and act to
// n / 256 BlockQ8_K whose bsums match their qs (as quantize_act writes them). The SIMD
// kernels read bsums; the scalar reference recomputes them from qs.
#pragma once

#include <cstdint>

namespace kiln::cpu {

void vec_dot_q2_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q3_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q4_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q5_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q6_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act);

void vec_dot_q2_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q3_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q4_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q5_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q6_k_q8_k_avx2(int64_t n, float* s, const void* w_row, const void* act);

void vec_dot_q2_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q3_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q4_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q5_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act);
void vec_dot_q6_k_q8_k_avx512(int64_t n, float* s, const void* w_row, const void* act);

// VecDotKernel::gemm for each SIMD ISA; activations are rows of Q8_K blocks (each row
// starting on a 64-byte boundary, act_stride = gemm_act_row_bytes(n)).
void gemm_q2_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride);
void gemm_q3_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride);
void gemm_q4_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride);
void gemm_q5_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride);
void gemm_q6_k_q8_k_avx2(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                         int64_t w_stride, const void* act, int64_t act_stride, float* out,
                         int64_t out_stride);

void gemm_q2_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride);
void gemm_q3_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride);
void gemm_q4_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride);
void gemm_q5_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride);
void gemm_q6_k_q8_k_avx512(int64_t n, int64_t num_rows, int64_t num_tokens, const void* w,
                           int64_t w_stride, const void* act, int64_t act_stride, float* out,
                           int64_t out_stride);

}  // namespace kiln::cpu
