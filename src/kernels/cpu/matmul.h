// Matrix multiplication of a stored weight matrix by a batch of activation rows, working
// on the quantized blocks directly (weights are never dequantized as a whole).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tensor/dtype.h"
#include "util/cpu_features.h"
#include "util/thread_pool.h"

namespace kiln::cpu {

// rows x cols in GGUF order: each of `rows` rows holds `cols` elements of `type`,
// contiguous (row r starts at data + r * dtype_row_bytes(type, cols)).
// `packed`, when set, is the same matrix in the x16 layout of packed_weights.h (made at
// load, see WeightLoader); the AVX-512 tier then reads it instead of `data`.
struct WeightMatrix {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* packed = nullptr;
};

// Reusable buffers for converted activations; grows to the largest call, then stays.
struct MatmulScratch {
  std::vector<uint8_t> act;
};

bool matmul_supported(DType type);

// Whether matmul at the best ISA (KILN_ISA honoured) reads a matrix of this type and shape
// in the packed layout, so the loader should make one. KILN_PACK=0 turns packing off.
bool matmul_wants_packed(DType type, int64_t rows, int64_t cols);

// Work on the activation rows that must happen before a matmul reads them (a residual add,
// a norm, the FFN's activation function): prepare(t0, t1) makes rows [t0, t1) of x ready,
// touching nothing outside them. The matmul runs it over ranges of tokens inside its own
// parallel region, ahead of the products, so that this row-wise work is shared between the
// threads instead of running on one while the others wait. A row's result may not depend on
// the range it was prepared in (the ranges depend on the batch).
struct ActivationPrologue {
  void (*prepare)(const void* context, int64_t t0, int64_t t1) = nullptr;
  const void* context = nullptr;

  // A prologue calling f(t0, t1); f must outlive the matmul call.
  template <class F>
  static ActivationPrologue of(const F& f) {
    return {[](const void* c, int64_t t0, int64_t t1) { (*static_cast<const F*>(c))(t0, t1); },
            &f};
  }
};

// y[t * w.rows + r] = sum_c W[r][c] * x[t * w.cols + c] for t in [0, num_tokens).
// isa caps the instruction set (the best allowed is used by default).
void matmul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, Isa isa = best_isa());
// The same, x prepared by `prologue` first.
void matmul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y, ThreadPool& pool,
            MatmulScratch& scratch, const ActivationPrologue& prologue, Isa isa = best_isa());

// Up to kMaxSameInput matrices of the same width applied to the same x (q/k/v, gate/up),
// ys[i] as matmul(ws[i], x, ..., ys[i]) writes it, bit for bit: one parallel region
// instead of one per matrix (decode runs hundreds of regions a token, and each ends in a
// barrier), and the activations converted once per format.
constexpr size_t kMaxSameInput = 4;
void matmul_same_input(std::span<const WeightMatrix> ws, std::span<float* const> ys, const float* x,
                       int64_t num_tokens, ThreadPool& pool, MatmulScratch& scratch,
                       Isa isa = best_isa());
void matmul_same_input(std::span<const WeightMatrix> ws, std::span<float* const> ys, const float* x,
                       int64_t num_tokens, ThreadPool& pool, MatmulScratch& scratch,
                       const ActivationPrologue& prologue, Isa isa = best_isa());

}  // namespace kiln::cpu
