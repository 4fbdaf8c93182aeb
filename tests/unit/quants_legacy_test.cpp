// Reference quantize/dequantize of the float and legacy block types: the byte layout
// (hand-built blocks), the rounding rules, and round-trip error bounds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln {
namespace {

std::vector<float> random_floats(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(DType type, const std::vector<float>& x) {
  const QuantOps* ops = quant_ops(type);
  EXPECT_NE(ops, nullptr);
  std::vector<uint8_t> q(dtype_row_bytes(type, (int64_t)x.size()));
  ops->quantize(x.data(), q.data(), (int64_t)x.size());
  std::vector<float> y(x.size());
  ops->dequantize(q.data(), y.data(), (int64_t)x.size());
  return y;
}

TEST(QuantsLegacy, EveryTypeHasOps) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                  DType::Q5_1, DType::Q8_0, DType::Q8_1}) {
    EXPECT_NE(quant_ops(t), nullptr) << dtype_name(t);
  }
  EXPECT_EQ(float_quant_ops(DType::Q4_0), nullptr);
  EXPECT_EQ(legacy_quant_ops(DType::F32), nullptr);
  EXPECT_EQ(legacy_quant_ops(DType::Q4_K), nullptr);
}

// ---- Layout: hand-built blocks decode as ggml defines them.

TEST(QuantsLegacy, Q4_0Layout) {
  BlockQ4_0 b;
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
  float y[32];
  quant_ops(DType::Q4_0)->dequantize(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.5f * (j - 8)) << j;
    EXPECT_EQ(y[j + 16], 0.5f * (7 - j)) << j;
  }
}

TEST(QuantsLegacy, Q4_1Layout) {
  BlockQ4_1 b;
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
  float y[32];
  quant_ops(DType::Q4_1)->dequantize(&b, y, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], 0.25f * j - 1.0f);
    EXPECT_EQ(y[j + 16], 0.25f * (15 - j) - 1.0f);
  }
}

TEST(QuantsLegacy, Q5Layout) {
  // Element e's fifth bit is bit e of qh.
  const uint32_t qh = 0xA5C3F00Fu;
  BlockQ5_0 b0;
  BlockQ5_1 b1;
  b0.d = b1.d = fp32_to_fp16(1.0f);
  b1.m = fp32_to_fp16(2.0f);
  std::memcpy(b0.qh, &qh, 4);
  std::memcpy(b1.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b0.qs[j] = b1.qs[j] = (uint8_t)((j * 7 % 16) | ((j * 3 % 16) << 4));
  float y0[32], y1[32];
  quant_ops(DType::Q5_0)->dequantize(&b0, y0, 32);
  quant_ops(DType::Q5_1)->dequantize(&b1, y1, 32);
  for (int e = 0; e < 32; ++e) {
    const int nibble = e < 16 ? (e * 7 % 16) : ((e - 16) * 3 % 16);
    const int q = nibble | (int)((qh >> e) & 1) << 4;
    EXPECT_EQ(y0[e], (float)(q - 16)) << e;
    EXPECT_EQ(y1[e], (float)q + 2.0f) << e;
  }
}

TEST(QuantsLegacy, Q8Layout) {
  BlockQ8_0 b;
  b.d = fp32_to_fp16(0.125f);
  for (int j = 0; j < 32; ++j) b.qs[j] = (int8_t)(j * 8 - 127);
  float y[32];
  quant_ops(DType::Q8_0)->dequantize(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.125f * (j * 8 - 127));
}

// ---- Rounding rules of the reference quantizers.

TEST(QuantsLegacy, Q8RoundsHalfAwayFromZeroAndStoresSum) {
  // amax = 127 gives d = 1 exactly, so x * id = x and ties are visible.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = (float)(j - 16) + 0.5f;
  x[0] = 127.0f;
  x[1] = -126.5f;
  BlockQ8_1 b;
  quant_ops(DType::Q8_1)->quantize(x, &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 1.0f);
  int sum = 0;
  for (int j = 0; j < 32; ++j) {
    const float expect = x[j] >= 0 ? std::floor(x[j] + 0.5f) : -std::floor(-x[j] + 0.5f);
    EXPECT_EQ(b.qs[j], (int8_t)expect) << j;
    sum += b.qs[j];
  }
  EXPECT_EQ(fp16_to_fp32(b.s), fp16_to_fp32(fp32_to_fp16((float)sum)));
  BlockQ8_0 b0;
  quant_ops(DType::Q8_0)->quantize(x, &b0, 32);
  EXPECT_EQ(0, std::memcmp(b0.qs, b.qs, 32));
}

TEST(QuantsLegacy, Q4_0ExtremeMapsToZeroNibble) {
  // The element of largest magnitude defines d = max / -8 and quantizes to q = 0.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.1f * (float)(j % 7) - 0.3f;
  x[5] = -2.0f;
  BlockQ4_0 b;
  quant_ops(DType::Q4_0)->quantize(x, &b, 32);
  EXPECT_EQ(fp16_to_fp32(b.d), 0.25f);
  EXPECT_EQ(b.qs[5] & 0x0F, 0);
}

TEST(QuantsLegacy, ZeroBlocksStayZero) {
  const std::vector<float> zeros(64, 0.0f);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1}) {
    for (float y : round_trip(t, zeros)) EXPECT_EQ(y, 0.0f) << dtype_name(t);
  }
}

// ---- Round-trip error bounds, per block: half a step (plus fp16 rounding of the scale
// and minimum), a full step where Q4_0/Q5_0 clamp the positive extreme.

float block_amax(const float* x) {
  float a = 0;
  for (int j = 0; j < 32; ++j) a = std::max(a, std::fabs(x[j]));
  return a;
}

void expect_round_trip_bound(DType type, float lo, float hi) {
  const int64_t n = 32 * 64;
  const auto x = random_floats(n, lo, hi, 1234u + (uint32_t)type);
  const auto y = round_trip(type, x);
  const float fp16_rel = 1.0f / 2048;
  double sq = 0, sq_ref = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = &x[b * 32];
    float mn = xb[0], mx = xb[0];
    for (int j = 0; j < 32; ++j) mn = std::min(mn, xb[j]), mx = std::max(mx, xb[j]);
    const float amax = block_amax(xb);
    float bound = 0;
    switch (type) {
      case DType::Q4_0:
        bound = amax / 8 * (1 + 8 * fp16_rel);
        break;
      case DType::Q5_0:
        bound = amax / 16 * (1 + 16 * fp16_rel);
        break;
      case DType::Q4_1:
        bound = (mx - mn) / 15 * (0.5f + 15 * fp16_rel) + std::fabs(mn) * fp16_rel;
        break;
      case DType::Q5_1:
        bound = (mx - mn) / 31 * (0.5f + 31 * fp16_rel) + std::fabs(mn) * fp16_rel;
        break;
      case DType::Q8_0:
      case DType::Q8_1:
        bound = amax / 127 * (0.5f + 127 * fp16_rel);
        break;
      default:
        FAIL();
    }
    for (int j = 0; j < 32; ++j) {
      ASSERT_LE(std::fabs(y[b * 32 + j] - xb[j]), bound * 1.0001f + 1e-7f)
          << dtype_name(type) << " block " << b << " elem " << j;
      sq += (double)(y[b * 32 + j] - xb[j]) * (y[b * 32 + j] - xb[j]);
      sq_ref += (double)xb[j] * xb[j];
    }
  }
  // And the typical error is well inside the worst case.
  const double rel_rms = std::sqrt(sq / sq_ref);
  const double max_rel_rms = type == DType::Q4_0 || type == DType::Q4_1   ? 0.12
                             : type == DType::Q5_0 || type == DType::Q5_1 ? 0.06
                                                                          : 0.01;
  EXPECT_LT(rel_rms, max_rel_rms) << dtype_name(type);
}

TEST(QuantsLegacy, RoundTripBounds) {
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q8_1}) {
    expect_round_trip_bound(t, -1.0f, 1.0f);
    expect_round_trip_bound(t, -0.2f, 3.0f);  // offset data: the minimum of the _1 types
  }
}

TEST(QuantsFloat, RoundTrips) {
  const auto x = random_floats(1000, -100.0f, 100.0f, 7);
  EXPECT_EQ(round_trip(DType::F32, x), x);
  const auto h = round_trip(DType::F16, x);
  const auto b = round_trip(DType::BF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_LE(std::fabs(h[i] - x[i]), std::fabs(x[i]) / 2048);
    EXPECT_LE(std::fabs(b[i] - x[i]), std::fabs(x[i]) / 256);
    EXPECT_EQ(fp32_to_fp16(h[i]), fp32_to_fp16(x[i]));  // idempotent
  }
}

}  // namespace
}  // namespace kiln
