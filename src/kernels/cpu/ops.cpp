#include "kernels/cpu/ops.h"

#include <cmath>

#include "kernels/cpu/vector_kernels.h"

namespace kiln::cpu {

void rms_norm(const float* x, const float* weight, float* out, int64_t num_rows, int64_t dim,
              float eps) {
  for (int64_t r = 0; r < num_rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    double sum_sq = 0;
    for (int64_t i = 0; i < dim; ++i) sum_sq += (double)xr[i] * xr[i];
    const float inv = (float)(1.0 / std::sqrt(sum_sq / (double)dim + eps));
    for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * weight[i];
  }
}

void rope_angles(const int32_t* positions, int64_t num_tokens, const float* inv_freq,
                 int64_t rope_dim, float pos_scale, float* cos_sin) {
  for (int64_t t = 0; t < num_tokens; ++t) {
    const double pos = (double)positions[t] * pos_scale;
    for (int64_t i = 0; i < rope_dim / 2; ++i) {
      const double theta = pos * inv_freq[i];
      cos_sin[t * rope_dim + 2 * i] = (float)std::cos(theta);
      cos_sin[t * rope_dim + 2 * i + 1] = (float)std::sin(theta);
    }
  }
}

void rope(float* x, int64_t num_tokens, int64_t row_stride, int64_t num_heads, int64_t head_dim,
          int64_t rope_dim, const float* cos_sin, bool adjacent_pairs) {
  const int64_t half = rope_dim / 2;
  for (int64_t t = 0; t < num_tokens; ++t) {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cos_sin[t * rope_dim + 2 * i], s = cos_sin[t * rope_dim + 2 * i + 1];
      for (int64_t h = 0; h < num_heads; ++h) {
        float* head = x + t * row_stride + h * head_dim;
        float* a = adjacent_pairs ? head + 2 * i : head + i;
        float* b = adjacent_pairs ? head + 2 * i + 1 : head + i + half;
        const float x0 = *a, x1 = *b;
        *a = x0 * c - x1 * s;
        *b = x0 * s + x1 * c;
      }
    }
  }
}

void silu_mul(float* gate, const float* up, int64_t n) {
  vector_kernels(best_isa()).silu_mul(gate, up, n);
}

void gelu_tanh_mul(float* gate, const float* up, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = 0; i < n; ++i) {
    const float x = gate[i];
    gate[i] = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x))) * up[i];
  }
}

void add_inplace(float* x, const float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void add_bias(float* x, const float* bias, int64_t num_rows, int64_t dim) {
  for (int64_t r = 0; r < num_rows; ++r) add_inplace(x + r * dim, bias, dim);
}

void scale_inplace(float* x, float scale, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}

void softcap(float* x, float cap, int64_t n) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

}  // namespace kiln::cpu
