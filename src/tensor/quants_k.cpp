// Scalar reference dequantize and quantize for the k-quants (Q2_K..Q6_K) and the Q8_K
// activation format. Every layout is the ggml/GGUF on-disk one (ggml-quants.c); the
// dequantizers follow ggml's reference loops line for line, so they double as the
// definition the SIMD kernels are tested against.
//
// The quantizers are ours: a weighted least-squares search per sub-block (the idea of
// ggml's make_qkx2_quants / make_qx_quants, not its exact tables), then the sub-block
// scales are quantized to the format's bits and the values re-quantized with the scales
// as they will be read back (fp16 super-block scale included).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/quants.h"
#include "util/fp16.h"
#include "util/status.h"

namespace kiln {
namespace {

// Round to nearest, ties to even (the default FP environment), like ggml's nearest_int.
inline int nearest_int(float v) { return static_cast<int>(std::lrintf(v)); }

// ---------------------------------------------------------------------------------------
// Sub-block quantization helpers.

// Asymmetric: x ~= scale * L - the_min with L in [0, nmax], scale >= 0, the_min >= 0.
// Weighted least squares over a small grid of candidate inverse scales; returns scale.
float quantize_sub_block_asym(int n, int nmax, const float* x, const float* w, float* the_min) {
  KILN_DCHECK(n <= 32);
  uint8_t L[32];
  float min = x[0], max = x[0], sum_w = 0, sum_x = 0;
  for (int i = 0; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    *the_min = -min;
    return 0.f;
  }
  auto error_of = [&](float scale, float mn, const uint8_t* l) {
    float err = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * l[i] + mn - x[i];
      err += w[i] * diff * diff;
    }
    return err;
  };
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  for (int i = 0; i < n; ++i) L[i] = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
  float best_error = error_of(scale, min, L);
  uint8_t laux[32];
  for (int step = 0; step <= 20; ++step) {
    iscale = (-1.f + 0.1f * step + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      laux[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    const float err = error_of(this_scale, this_min, laux);
    if (err < best_error) {
      std::memcpy(L, laux, n);
      best_error = err;
      scale = this_scale;
      min = this_min;
    }
  }
  *the_min = -min;
  return std::max(scale, 0.f);
}

// The signed value with the largest magnitude (the first one on ties).
float signed_absmax(const float* v, int n) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(v[i]) > amax) {
      amax = std::fabs(v[i]);
      max = v[i];
    }
  }
  return max;
}

// Symmetric: x ~= scale * L with L in [-nmax, nmax - 1]; returns the scale, signed (the
// largest-magnitude value maps to about -nmax, as in ggml). Weighted least squares over a
// small grid of candidate inverse scales.
float quantize_sub_block_sym(int n, int nmax, const float* x, const float* w) {
  const float max = signed_absmax(x, n);
  if (std::fabs(max) < 1e-30f) return 0.f;
  float best_scale = 0, best = -1;
  for (int step = -9; step <= 9; ++step) {
    const float iscale = -(nmax + 0.1f * step) / max;
    float sum_lx = 0, sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      sum_lx += w[i] * x[i] * l;
      sum_l2 += w[i] * l * l;
    }
    // Minimising sum w (x - s l)^2 over s gives s = lx / l2, an error reduction lx^2 / l2.
    if (sum_l2 > 0 && (best < 0 || sum_lx * sum_lx > best * sum_l2)) {
      best_scale = sum_lx / sum_l2;
      best = best_scale * sum_lx;
    }
  }
  return best_scale;
}

// Weights of the least-squares fits: larger values matter more (ggml's choice for Q4_K).
void importance_weights(const float* x, float* w) {
  float sum_x2 = 0;
  for (int i = 0; i < kQK_K; ++i) sum_x2 += x[i] * x[i];
  const float av_x = std::sqrt(sum_x2 / kQK_K);
  for (int i = 0; i < kQK_K; ++i) w[i] = av_x + std::fabs(x[i]);
}

void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* q) {
  std::memset(q, 0, kKScaleBytes);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = ls[j];
      q[j + 4] = lm[j];
    } else {
      q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
      q[j - 4] |= (ls[j] >> 4) << 6;
      q[j] |= (lm[j] >> 4) << 6;
    }
  }
}

// Asymmetric per-sub-block quantization shared by Q2_K, Q4_K and Q5_K: fills L (values
// in [0, nmax]) and the quantized sub-block scales/mins (in [0, scale_max]) with the two
// fp16 super-block factors.
void quantize_super_block_asym(const float* x, int sub_size, int nmax, int scale_max, uint8_t* L,
                               uint8_t* ls, uint8_t* lm, fp16_t* d_out, fp16_t* dmin_out) {
  const int num_sub = kQK_K / sub_size;
  float w[kQK_K], scales[16], mins[16];
  importance_weights(x, w);
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < num_sub; ++j) {
    scales[j] =
        quantize_sub_block_asym(sub_size, nmax, x + j * sub_size, w + j * sub_size, &mins[j]);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? scale_max / max_scale : 0.f;
  const float inv_min = max_min > 0 ? scale_max / max_min : 0.f;
  for (int j = 0; j < num_sub; ++j) {
    ls[j] = static_cast<uint8_t>(std::clamp(nearest_int(inv_scale * scales[j]), 0, scale_max));
    lm[j] = static_cast<uint8_t>(std::clamp(nearest_int(inv_min * mins[j]), 0, scale_max));
  }
  *d_out = fp32_to_fp16(max_scale / scale_max);
  *dmin_out = fp32_to_fp16(max_min / scale_max);
  const float d = fp16_to_fp32(*d_out), dmin = fp16_to_fp32(*dmin_out);
  // Re-quantize against the scales as stored.
  for (int j = 0; j < num_sub; ++j) {
    const float dl = d * ls[j], ml = dmin * lm[j];
    for (int i = 0; i < sub_size; ++i) {
      const int k = j * sub_size + i;
      L[k] = dl == 0 ? 0 : static_cast<uint8_t>(std::clamp(nearest_int((x[k] + ml) / dl), 0, nmax));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q2_K: 16 sub-blocks of 16; scales[j] = scale (low 4 bits) | min (high 4 bits).
// Element 128h + 32s + l is bits 2s..2s+1 of qs[32h + l].

void dequantize_q2_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int half = 0; half < kQK_K; half += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc = x[i].scales[is++];
        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l] >> shift) & 3) - ml;
        sc = x[i].scales[is++];
        dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16] >> shift) & 3) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

void quantize_q2_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    uint8_t L[kQK_K], ls[16], lm[16];
    quantize_super_block_asym(x, 16, 3, 15, L, ls, lm, &y[i].d, &y[i].dmin);
    for (int j = 0; j < 16; ++j) y[i].scales[j] = static_cast<uint8_t>(ls[j] | (lm[j] << 4));
    for (int j = 0; j < kQK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                                  (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (stored +32) packed in 12 bytes;
// values are 2 low bits in qs (as Q2_K) plus hmask, whose bit b of byte l belongs to
// element 32b + l. q = low | (high << 2), value = d * (scale - 32) * (q - 4).

void dequantize_q3_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d_all = fp16_to_fp32(x[i].d);
    int8_t scales[16];
    unpack_q3_k_scales(x[i].scales, scales);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int half = 0; half < kQK_K; half += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        float dl = d_all * scales[is++];
        for (int l = 0; l < 16; ++l) *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        dl = d_all * scales[is++];
        for (int l = 0; l < 16; ++l)
          *y++ = dl * (((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

void quantize_q3_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float w[kQK_K], scales[16];
    for (int k = 0; k < kQK_K; ++k) w[k] = x[k] * x[k];
    for (int j = 0; j < 16; ++j) scales[j] = quantize_sub_block_sym(16, 4, x + 16 * j, w + 16 * j);
    const float max_scale = signed_absmax(scales, 16);
    std::memset(y[i].scales, 0, 12);
    if (max_scale == 0) {
      std::memset(y[i].hmask, 0, sizeof(y[i].hmask));
      std::memset(y[i].qs, 0, sizeof(y[i].qs));
      y[i].d = 0;
      continue;
    }
    const float iscale = -32.f / max_scale;
    uint8_t lsc[16];
    for (int j = 0; j < 16; ++j) {
      const int l = std::clamp(nearest_int(iscale * scales[j]), -32, 31) + 32;
      lsc[j] = static_cast<uint8_t>(l);
      if (j < 8) {
        y[i].scales[j] = static_cast<uint8_t>(l & 0xF);
      } else {
        y[i].scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
      }
      y[i].scales[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    y[i].d = fp32_to_fp16(1 / iscale);
    const float d = fp16_to_fp32(y[i].d);
    uint8_t L[kQK_K];
    for (int j = 0; j < 16; ++j) {
      const float dl = d * (lsc[j] - 32);
      for (int l = 0; l < 16; ++l) {
        const int k = 16 * j + l;
        L[k] = dl == 0 ? 4 : static_cast<uint8_t>(std::clamp(nearest_int(x[k] / dl), -4, 3) + 4);
      }
    }
    std::memset(y[i].hmask, 0, sizeof(y[i].hmask));
    for (int k = 0; k < kQK_K; ++k) {
      if (L[k] > 3) {
        y[i].hmask[k % 32] |= static_cast<uint8_t>(1u << (k / 32));
        L[k] -= 4;
      }
    }
    for (int j = 0; j < kQK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        y[i].qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) |
                                                  (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins. Element 64c + l is the low nibble
// of qs[32c + l], element 64c + 32 + l the high nibble.

void dequantize_q4_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < kQK_K; j += 64) {
      k4_scale_min(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      k4_scale_min(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void quantize_q4_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    uint8_t L[kQK_K], ls[8], lm[8];
    quantize_super_block_asym(x, 32, 15, 63, L, ls, lm, &y[i].d, &y[i].dmin);
    pack_scale_min_k4(ls, lm, y[i].scales);
    uint8_t* q = y[i].qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q5_K: Q4_K plus a fifth bit: bit b of qh[l] belongs to element 32b + l.

void dequantize_q5_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    int is = 0;
    uint8_t sc, m;
    unsigned u1 = 1, u2 = 2;
    for (int j = 0; j < kQK_K; j += 64) {
      k4_scale_min(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      k4_scale_min(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void quantize_q5_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    uint8_t L[kQK_K], ls[8], lm[8];
    quantize_super_block_asym(x, 32, 31, 63, L, ls, lm, &y[i].d, &y[i].dmin);
    pack_scale_min_k4(ls, lm, y[i].scales);
    std::memset(y[i].qh, 0, sizeof(y[i].qh));
    uint8_t* ql = y[i].qs;
    unsigned m1 = 1, m2 = 2;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) {
        int l1 = L[j + l], l2 = L[j + l + 32];
        if (l1 > 15) {
          l1 -= 16;
          y[i].qh[l] |= static_cast<uint8_t>(m1);
        }
        if (l2 > 15) {
          l2 -= 16;
          y[i].qh[l] |= static_cast<uint8_t>(m2);
        }
        ql[l] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit values stored +32: 4 low bits in ql,
// 2 high bits in qh. Per 128 elements (ql 64 bytes, qh 32 bytes), element 32s + l takes
// the low (s < 2) or high nibble of ql[32 (s & 1) + l] and bits 2s..2s+1 of qh[l].

void dequantize_q6_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int half = 0; half < kQK_K; half += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void quantize_q6_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float w[kQK_K], scales[16];
    for (int k = 0; k < kQK_K; ++k) w[k] = x[k] * x[k];
    for (int j = 0; j < 16; ++j) scales[j] = quantize_sub_block_sym(16, 32, x + 16 * j, w + 16 * j);
    const float max_scale = signed_absmax(scales, 16);
    if (max_scale == 0) {
      std::memset(&y[i], 0, sizeof(y[i]));
      // All-zero values must decode as 0, i.e. stored 32 (any scale 0 gives that too).
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = fp32_to_fp16(1 / iscale);
    const float d = fp16_to_fp32(y[i].d);
    uint8_t L[kQK_K];
    for (int j = 0; j < 16; ++j) {
      const int ls = std::clamp(nearest_int(iscale * scales[j]), -128, 127);
      y[i].scales[j] = static_cast<int8_t>(ls);
      const float dl = d * ls;
      for (int l = 0; l < 16; ++l) {
        const int k = 16 * j + l;
        L[k] =
            dl == 0 ? 32 : static_cast<uint8_t>(std::clamp(nearest_int(x[k] / dl), -32, 31) + 32);
      }
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128) {
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
        const int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
      ql += 64;
      qh += 32;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Q8_K: float d, 256 int8 values, bsums = sums of each group of 16 values. As in ggml the
// value of largest magnitude maps to -127, so every value lies in [-127, 127].

void dequantize_q8_k(const void* src, float* y, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i)
    for (int j = 0; j < kQK_K; ++j) *y++ = x[i].d * x[i].qs[j];
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  KILN_DCHECK(n % kQK_K == 0);
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    const float max = signed_absmax(x, kQK_K);
    if (max == 0) {
      y[i].d = 0;
      std::memset(y[i].qs, 0, sizeof(y[i].qs));
      std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK_K; ++j)
      y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * j + l];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

constexpr QuantOps kQ2K{dequantize_q2_k, quantize_q2_k};
constexpr QuantOps kQ3K{dequantize_q3_k, quantize_q3_k};
constexpr QuantOps kQ4K{dequantize_q4_k, quantize_q4_k};
constexpr QuantOps kQ5K{dequantize_q5_k, quantize_q5_k};
constexpr QuantOps kQ6K{dequantize_q6_k, quantize_q6_k};
constexpr QuantOps kQ8K{dequantize_q8_k, quantize_q8_k};

}  // namespace

void k4_scale_min(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void unpack_q3_k_scales(const uint8_t* packed, int8_t* scales) {
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  std::memcpy(aux, packed, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  uint8_t u[16];
  std::memcpy(u, aux, 16);
  for (int j = 0; j < 16; ++j) scales[j] = static_cast<int8_t>(u[j] - 32);
}

const QuantOps* kquant_quant_ops(DType type) {
  switch (type) {
    case DType::Q2_K:
      return &kQ2K;
    case DType::Q3_K:
      return &kQ3K;
    case DType::Q4_K:
      return &kQ4K;
    case DType::Q5_K:
      return &kQ5K;
    case DType::Q6_K:
      return &kQ6K;
    case DType::Q8_K:
      return &kQ8K;
    default:
      return nullptr;
  }
}

}  // namespace kiln
