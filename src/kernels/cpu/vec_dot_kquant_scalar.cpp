// Scalar reference dot products of k-quant weight rows with Q8_K activations. Each weight
// super-block is unpacked to its signed integer values and per-16-element scale and min
// (walking the bytes the way ggml's reference dequantizers do), then dotted exactly in
// integers. Deliberately plain: this is what the SIMD kernels are tested against.
#include <cstring>

#include "kernels/cpu/vec_dot_kquant.h"
#include "tensor/dtype.h"
#include "util/fp16.h"
#include "util/status.h"

namespace kiln::cpu {
namespace {

// One super-block as integers: value[e] = d * scale[e / 16] * q[e] - dmin * min[e / 16].
struct Unpacked {
  int8_t q[kQK_K];
  int scale[kQK_K / 16];
  int min[kQK_K / 16];
  float d;
  float dmin;
};

void unpack(const BlockQ2_K& x, Unpacked& u) {
  u.d = fp16_to_fp32(x.d);
  u.dmin = fp16_to_fp32(x.dmin);
  for (int g = 0; g < 16; ++g) {
    u.scale[g] = x.scales[g] & 0xF;
    u.min[g] = x.scales[g] >> 4;
  }
  int8_t* q = u.q;
  for (int half = 0; half < 2; ++half)
    for (int shift = 0; shift < 8; shift += 2)
      for (int l = 0; l < 32; ++l) *q++ = static_cast<int8_t>((x.qs[32 * half + l] >> shift) & 3);
}

void unpack(const BlockQ3_K& x, Unpacked& u) {
  u.d = fp16_to_fp32(x.d);
  u.dmin = 0;
  // 16 6-bit scales: low 4 bits in bytes 0..7 (low nibble: scales 0..7, high: 8..15), high
  // 2 bits of scale j at bits 2 (j / 4) of byte 8 + j % 4.
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (x.scales[j] & 0xF) : (x.scales[j - 8] >> 4);
    const int high = (x.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    u.scale[j] = (low | (high << 4)) - 32;
    u.min[j] = 0;
  }
  int8_t* q = u.q;
  int bit = 0;
  for (int half = 0; half < 2; ++half) {
    for (int shift = 0; shift < 8; shift += 2, ++bit) {
      for (int l = 0; l < 32; ++l) {
        const int low = (x.qs[32 * half + l] >> shift) & 3;
        *q++ = static_cast<int8_t>(low - (((x.hmask[l] >> bit) & 1) ? 0 : 4));
      }
    }
  }
}

void unpack_scale_min_k4(const uint8_t* s, Unpacked& u) {
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    if (j < 4) {
      sc = s[j] & 63;
      m = s[j + 4] & 63;
    } else {
      sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
      m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
    u.scale[2 * j] = u.scale[2 * j + 1] = sc;
    u.min[2 * j] = u.min[2 * j + 1] = m;
  }
}

void unpack(const BlockQ4_K& x, Unpacked& u) {
  u.d = fp16_to_fp32(x.d);
  u.dmin = fp16_to_fp32(x.dmin);
  unpack_scale_min_k4(x.scales, u);
  int8_t* q = u.q;
  for (int chunk = 0; chunk < 4; ++chunk) {
    const uint8_t* qs = x.qs + 32 * chunk;
    for (int l = 0; l < 32; ++l) *q++ = static_cast<int8_t>(qs[l] & 0xF);
    for (int l = 0; l < 32; ++l) *q++ = static_cast<int8_t>(qs[l] >> 4);
  }
}

void unpack(const BlockQ5_K& x, Unpacked& u) {
  u.d = fp16_to_fp32(x.d);
  u.dmin = fp16_to_fp32(x.dmin);
  unpack_scale_min_k4(x.scales, u);
  int8_t* q = u.q;
  for (int chunk = 0; chunk < 4; ++chunk) {
    const uint8_t* qs = x.qs + 32 * chunk;
    const int bit = 2 * chunk;
    for (int l = 0; l < 32; ++l)
      *q++ = static_cast<int8_t>((qs[l] & 0xF) | (((x.qh[l] >> bit) & 1) << 4));
    for (int l = 0; l < 32; ++l)
      *q++ = static_cast<int8_t>((qs[l] >> 4) | (((x.qh[l] >> (bit + 1)) & 1) << 4));
  }
}

void unpack(const BlockQ6_K& x, Unpacked& u) {
  u.d = fp16_to_fp32(x.d);
  u.dmin = 0;
  for (int g = 0; g < 16; ++g) {
    u.scale[g] = x.scales[g];
    u.min[g] = 0;
  }
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = x.ql + 64 * half;
    const uint8_t* qh = x.qh + 32 * half;
    int8_t* q = u.q + 128 * half;
    for (int l = 0; l < 32; ++l) {
      q[l + 0] = static_cast<int8_t>(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
      q[l + 32] = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
      q[l + 64] = static_cast<int8_t>(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      q[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

template <typename Block>
void vec_dot(int64_t n, float* s, const void* w_row, const void* act) {
  KILN_DCHECK(n % kQK_K == 0);
  const auto* x = static_cast<const Block*>(w_row);
  const auto* y = static_cast<const BlockQ8_K*>(act);
  float sumf = 0;
  Unpacked u;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    unpack(x[i], u);
    int32_t sumi = 0, summ = 0;
    for (int g = 0; g < kQK_K / 16; ++g) {
      int32_t dot = 0, act_sum = 0;
      for (int l = 0; l < 16; ++l) {
        dot += u.q[16 * g + l] * y[i].qs[16 * g + l];
        act_sum += y[i].qs[16 * g + l];
      }
      sumi += u.scale[g] * dot;
      summ += u.min[g] * act_sum;
    }
    sumf += u.d * y[i].d * static_cast<float>(sumi) - u.dmin * y[i].d * static_cast<float>(summ);
  }
  *s = sumf;
}

}  // namespace

void vec_dot_q2_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<BlockQ2_K>(n, s, w_row, act);
}
void vec_dot_q3_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<BlockQ3_K>(n, s, w_row, act);
}
void vec_dot_q4_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<BlockQ4_K>(n, s, w_row, act);
}
void vec_dot_q5_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<BlockQ5_K>(n, s, w_row, act);
}
void vec_dot_q6_k_q8_k_scalar(int64_t n, float* s, const void* w_row, const void* act) {
  vec_dot<BlockQ6_K>(n, s, w_row, act);
}

}  // namespace kiln::cpu
