// Matrix multiplication of a stored weight matrix by a batch of activation rows, working
// on the quantized blocks directly (weights are never dequantized as a whole).
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"
#include "util/cpu_features.h"
#include "util/thread_pool.h"

namespace kiln::cpu {

// rows x cols in GGUF order: each of `rows` rows holds `cols` elements of `type`,
// contiguous (row r starts at data + r * dtype_row_bytes(type, cols)).
struct WeightMatrix {
  DType type = DType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
};

// Reusable buffers for converted activations; grows to the largest call, then stays.
struct MatmulScratch {
  std::vector<uint8_t> act;
};

bool matmul_supported(DType type);

// y[t * w.rows + r] = sum_c W[r][c] * x[t * w.cols + c] for t in [0, num_tokens).
// isa caps the instruction set (the best allowed is used by default).
void matmul(const WeightMatrix& w, const float* x, int64_t num_tokens, float* y,
            ThreadPool& pool, MatmulScratch& scratch, Isa isa = best_isa());

}  // namespace kiln::cpu
