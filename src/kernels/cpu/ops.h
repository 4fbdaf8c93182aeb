// Element-wise and row-wise operations of a transformer layer (CPU). They are cheap next to
// matmul and attention, so they are plain loops the compiler vectorises for the baseline.
#pragma once

#include <cstdint>

namespace kiln::cpu {

// out[r] = x[r] / rms(x[r]) * weight, for num_rows rows of dim floats. out may alias x.
void rms_norm(const float* x, const float* weight, float* out, int64_t num_rows, int64_t dim,
              float eps);

// The rotation angles of RoPE for a batch, computed once and shared by every layer:
// cos_sin[t * rope_dim + 2i] = cos(theta), [.. + 2i + 1] = sin(theta), with
// theta = positions[t] * pos_scale * inv_freq[i], for i < rope_dim / 2.
void rope_angles(const int32_t* positions, int64_t num_tokens, const float* inv_freq,
                 int64_t rope_dim, float pos_scale, float* cos_sin);

// Rotary position embedding, in place on num_tokens rows of num_heads heads of head_dim,
// rotating the first rope_dim dimensions of each head by the angles from rope_angles.
// adjacent_pairs: rotate (x[2i], x[2i+1]); else (x[i], x[i + rope_dim/2]).
void rope(float* x, int64_t num_tokens, int64_t row_stride, int64_t num_heads, int64_t head_dim,
          int64_t rope_dim, const float* cos_sin, bool adjacent_pairs);

// gate[i] = silu(gate[i]) * up[i], with the best kernels allowed.
void silu_mul(float* gate, const float* up, int64_t n);

// gate[i] = gelu(gate[i]) * up[i] with GELU's tanh approximation
// (0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))): Gemma's GeGLU.
void gelu_tanh_mul(float* gate, const float* up, int64_t n);

// x[i] += y[i]
void add_inplace(float* x, const float* y, int64_t n);

// x[r][i] += bias[i] for num_rows rows of dim floats.
void add_bias(float* x, const float* bias, int64_t num_rows, int64_t dim);

// x[i] *= scale
void scale_inplace(float* x, float scale, int64_t n);

// x[i] = cap * tanh(x[i] / cap): soft-capping of logits (cap > 0).
void softcap(float* x, float cap, int64_t n);

}  // namespace kiln::cpu
