// k-quant reference formats: dequantization of blocks with known contents (so a layout bug
// cannot cancel out between quantize and dequantize), golden values from gguf-py, and
// quantize -> dequantize error bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln {
namespace {

constexpr int kN = kQK_K;

std::vector<float> dequantize(DType type, const void* blocks, int64_t n) {
  std::vector<float> out(n);
  kquant_quant_ops(type)->dequantize(blocks, out.data(), n);
  return out;
}

TEST(QuantsK, TableCoversExactlyTheKQuants) {
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
    const QuantOps* ops = kquant_quant_ops(t);
    ASSERT_NE(ops, nullptr) << dtype_name(t);
    EXPECT_NE(ops->dequantize, nullptr);
    EXPECT_NE(ops->quantize, nullptr);
  }
  for (DType t : {DType::F32, DType::F16, DType::Q4_0, DType::Q8_0, DType::Q8_1, DType::IQ4_XS})
    EXPECT_EQ(kquant_quant_ops(t), nullptr) << dtype_name(t);
}

// ---------------------------------------------------------------------------------------
// Hand-built blocks. Each packer below is written from the element's point of view
// ("element e lives in byte ..., bits ..."), independently of the implementation's loops.

// A 6-bit value whose high bits are set for roughly half of the indices.
int six_bit(int j) { return (j * 23 + 5) % 64; }

TEST(QuantsK, Q2KKnownValues) {
  BlockQ2_K b{};
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  int q[kN], scale[16], min[16];
  for (int j = 0; j < 16; ++j) {
    scale[j] = (j * 7 + 3) % 16;
    min[j] = (j * 5 + 1) % 16;
    b.scales[j] = static_cast<uint8_t>(scale[j] | (min[j] << 4));
  }
  for (int e = 0; e < kN; ++e) {
    q[e] = (e * 3 + e / 16) % 4;
    // Element e: bits 2 * ((e % 128) / 32) of qs[32 * (e / 128) + e % 32].
    b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(q[e] << (2 * ((e % 128) / 32)));
  }
  const auto y = dequantize(DType::Q2_K, &b, kN);
  for (int e = 0; e < kN; ++e)
    ASSERT_EQ(y[e], 0.5f * scale[e / 16] * q[e] - 0.25f * min[e / 16]) << "element " << e;
}

TEST(QuantsK, Q3KKnownValues) {
  BlockQ3_K b{};
  b.d = fp32_to_fp16(0.5f);
  int q[kN], scale[16];
  for (int j = 0; j < 16; ++j) {
    const int stored = six_bit(j);  // scale = stored - 32
    scale[j] = stored - 32;
    // Low 4 bits: byte j (j < 8) low nibble or byte j - 8 high nibble; high 2 bits: bits
    // 2 * (j / 4) of byte 8 + j % 4.
    if (j < 8)
      b.scales[j] |= static_cast<uint8_t>(stored & 0xF);
    else
      b.scales[j - 8] |= static_cast<uint8_t>((stored & 0xF) << 4);
    b.scales[8 + j % 4] |= static_cast<uint8_t>((stored >> 4) << (2 * (j / 4)));
  }
  for (int e = 0; e < kN; ++e) {
    q[e] = (e * 5 + e / 32) % 8 - 4;  // in [-4, 3]
    const int stored = q[e] + 4;
    b.qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((stored & 3) << (2 * ((e % 128) / 32)));
    // The third bit: bit e / 32 of hmask[e % 32].
    b.hmask[e % 32] |= static_cast<uint8_t>((stored >> 2) << (e / 32));
  }
  const auto y = dequantize(DType::Q3_K, &b, kN);
  for (int e = 0; e < kN; ++e) ASSERT_EQ(y[e], 0.5f * scale[e / 16] * q[e]) << "element " << e;
}

// The 12-byte 6-bit scale/min packing of Q4_K and Q5_K, element-wise.
void pack_k4_scales(const int* scale, const int* min, uint8_t* s) {
  std::memset(s, 0, kKScaleBytes);
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] |= static_cast<uint8_t>(scale[j]);  // bits 0..5
      s[j + 4] |= static_cast<uint8_t>(min[j]);
    } else {
      s[j + 4] |= static_cast<uint8_t>((scale[j] & 0xF) | ((min[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((scale[j] >> 4) << 6);  // bits 6..7 of bytes 0..3
      s[j] |= static_cast<uint8_t>((min[j] >> 4) << 6);        // bits 6..7 of bytes 4..7
    }
  }
}

TEST(QuantsK, Q4KKnownValues) {
  BlockQ4_K b{};
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  int q[kN], scale[8], min[8];
  for (int j = 0; j < 8; ++j) {
    scale[j] = six_bit(j);
    min[j] = six_bit(j + 8);
  }
  pack_k4_scales(scale, min, b.scales);
  for (int e = 0; e < kN; ++e) {
    q[e] = (e * 7 + e / 32) % 16;
    // Element e: nibble (e / 32) % 2 of qs[32 * (e / 64) + e % 32].
    b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>(q[e] << (4 * ((e / 32) % 2)));
  }
  const auto y = dequantize(DType::Q4_K, &b, kN);
  for (int e = 0; e < kN; ++e)
    ASSERT_EQ(y[e], 0.5f * scale[e / 32] * q[e] - 0.25f * min[e / 32]) << "element " << e;
}

TEST(QuantsK, Q5KKnownValues) {
  BlockQ5_K b{};
  b.d = fp32_to_fp16(0.5f);
  b.dmin = fp32_to_fp16(0.25f);
  int q[kN], scale[8], min[8];
  for (int j = 0; j < 8; ++j) {
    scale[j] = six_bit(j + 3);
    min[j] = six_bit(j + 11);
  }
  pack_k4_scales(scale, min, b.scales);
  for (int e = 0; e < kN; ++e) {
    q[e] = (e * 11 + e / 32) % 32;
    b.qs[32 * (e / 64) + e % 32] |= static_cast<uint8_t>((q[e] & 0xF) << (4 * ((e / 32) % 2)));
    // The fifth bit: bit e / 32 of qh[e % 32].
    b.qh[e % 32] |= static_cast<uint8_t>((q[e] >> 4) << (e / 32));
  }
  const auto y = dequantize(DType::Q5_K, &b, kN);
  for (int e = 0; e < kN; ++e)
    ASSERT_EQ(y[e], 0.5f * scale[e / 32] * q[e] - 0.25f * min[e / 32]) << "element " << e;
}

TEST(QuantsK, Q6KKnownValues) {
  BlockQ6_K b{};
  b.d = fp32_to_fp16(0.5f);
  int q[kN], scale[16];
  for (int j = 0; j < 16; ++j) {
    scale[j] = (j * 37 + 3) % 256 - 128;  // full int8 range, -128 included
    b.scales[j] = static_cast<int8_t>(scale[j]);
  }
  scale[5] = -128;
  b.scales[5] = -128;
  for (int e = 0; e < kN; ++e) {
    q[e] = (e * 13 + e / 16) % 64 - 32;  // in [-32, 31]
    const int stored = q[e] + 32;
    // Per 128 elements (ql 64 bytes, qh 32 bytes): element 32 s + l has its low 4 bits in
    // nibble s / 2 of ql[32 * (s % 2) + l] and its high 2 bits at bits 2 s of qh[l].
    const int h = e / 128, s = (e % 128) / 32, l = e % 32;
    b.ql[64 * h + 32 * (s % 2) + l] |= static_cast<uint8_t>((stored & 0xF) << (4 * (s / 2)));
    b.qh[32 * h + l] |= static_cast<uint8_t>((stored >> 4) << (2 * s));
  }
  const auto y = dequantize(DType::Q6_K, &b, kN);
  for (int e = 0; e < kN; ++e) ASSERT_EQ(y[e], 0.5f * scale[e / 16] * q[e]) << "element " << e;
}

TEST(QuantsK, Q8KKnownValues) {
  BlockQ8_K b{};
  b.d = 0.125f;
  for (int e = 0; e < kN; ++e) b.qs[e] = static_cast<int8_t>(e - 128);
  const auto y = dequantize(DType::Q8_K, &b, kN);
  for (int e = 0; e < kN; ++e) ASSERT_EQ(y[e], 0.125f * (e - 128));
}

// ---------------------------------------------------------------------------------------
// Golden values: block byte k = (37 k + 11) mod 256, with the fp16 d = 0.5 and dmin = 0.25
// written over their fields, dequantized by gguf-py 0.19 (gguf.quants.dequantize).

struct Golden {
  DType type;
  double weighted_sum;  // sum over e of (e + 1) * value[e]
  std::vector<std::pair<int, float>> values;
};

std::vector<uint8_t> golden_block(DType type) {
  const int64_t bytes = dtype_block_bytes(type);
  std::vector<uint8_t> b(bytes);
  for (int64_t k = 0; k < bytes; ++k) b[k] = static_cast<uint8_t>((k * 37 + 11) % 256);
  const uint16_t half = fp32_to_fp16(0.5f), quarter = fp32_to_fp16(0.25f);
  auto put = [&](size_t offset, uint16_t v) { std::memcpy(b.data() + offset, &v, 2); };
  switch (type) {
    case DType::Q2_K:
      put(offsetof(BlockQ2_K, d), half);
      put(offsetof(BlockQ2_K, dmin), quarter);
      break;
    case DType::Q3_K:
      put(offsetof(BlockQ3_K, d), half);
      break;
    case DType::Q4_K:
      put(offsetof(BlockQ4_K, d), half);
      put(offsetof(BlockQ4_K, dmin), quarter);
      break;
    case DType::Q5_K:
      put(offsetof(BlockQ5_K, d), half);
      put(offsetof(BlockQ5_K, dmin), quarter);
      break;
    case DType::Q6_K:
      put(offsetof(BlockQ6_K, d), half);
      break;
    default:
      ADD_FAILURE();
  }
  return b;
}

TEST(QuantsK, MatchesGgufPyGoldenValues) {
  const std::vector<Golden> goldens = {
      {DType::Q2_K, 121565.0, {{0, 16.5},   {1, 0.0},    {15, 11.0},  {16, -0.75},  {31, -0.75},
                               {32, 3.75},  {33, -1.25}, {63, 3.25},  {64, 5.25},   {95, -1.0},
                               {96, 1.0},   {127, 21.0}, {128, 3.75}, {129, -0.75}, {160, 11.25},
                               {191, -1.5}, {192, 7.5},  {200, 4.0},  {224, 1.25},  {255, 2.25}}},
      {DType::Q3_K, 88572.5, {{0, 40.5},   {1, -54.0},  {15, -27.0}, {16, -48.0}, {31, 32.0},
                              {32, -11.0}, {33, 22.0},  {63, 5.0},   {64, 17.0},  {95, 4.0},
                              {96, 25.0},  {127, 36.0}, {128, 1.0},  {129, -0.0}, {160, 13.0},
                              {191, 40.5}, {192, 50.0}, {200, 12.5}, {224, 6.0},  {255, 21.0}}},
      {DType::Q4_K, 3786420.0, {{0, 157.75},   {1, -12.75},  {15, 80.25},  {16, 157.75},
                                {31, 80.25},   {32, 4.0},    {33, 10.0},   {63, 20.0},
                                {64, 210.25},  {95, 107.75}, {96, 96.5},   {127, 40.5},
                                {128, 211.5},  {129, -3.0},  {160, 262.5}, {191, 22.5},
                                {192, 265.25}, {200, 69.25}, {224, 0.25},  {255, 24.25}}},
      {DType::Q5_K, 8013724.0, {{0, 405.75},   {1, -12.75},  {15, 80.25},  {16, 405.75},
                                {31, 80.25},   {32, 56.0},   {33, -2.0},   {63, 40.0},
                                {64, 210.25},  {95, 435.75}, {96, 166.5},  {127, -1.5},
                                {128, 523.5},  {129, -3.0},  {160, 82.5},  {191, 322.5},
                                {192, 657.25}, {200, 69.25}, {224, 30.25}, {255, 54.25}}},
      {DType::Q6_K, 392210.0, {{0, -715.5},   {1, 848.0},   {15, -159.0}, {16, -216.0},
                               {31, -48.0},   {32, 115.5},  {33, -336.0}, {63, -290.0},
                               {64, -1520.0}, {95, 1488.0}, {96, -435.0}, {127, 750.0},
                               {128, -175.5}, {129, 208.0}, {160, 335.5}, {191, -490.0},
                               {192, -242.0}, {200, 544.5}, {224, 423.0}, {255, -30.0}}},
  };
  for (const Golden& g : goldens) {
    SCOPED_TRACE(dtype_name(g.type));
    const auto block = golden_block(g.type);
    const auto y = dequantize(g.type, block.data(), kN);
    double weighted = 0;
    for (int e = 0; e < kN; ++e) weighted += (e + 1) * static_cast<double>(y[e]);
    EXPECT_EQ(weighted, g.weighted_sum);
    for (const auto& [e, v] : g.values) EXPECT_EQ(y[e], v) << "element " << e;
  }
}

// ---------------------------------------------------------------------------------------
// Quantize -> dequantize.

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    ref += static_cast<double>(x[i]) * x[i];
  }
  return std::sqrt(err / ref);
}

std::vector<float> round_trip(DType type, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(dtype_row_bytes(type, n));
  kquant_quant_ops(type)->quantize(x.data(), q.data(), n);
  return dequantize(type, q.data(), n);
}

struct Bound {
  DType type;
  double max_relative_rmse;  // on Gaussian data
};

class QuantsKRoundTrip : public ::testing::TestWithParam<Bound> {};

TEST_P(QuantsKRoundTrip, GaussianErrorWithinBound) {
  const Bound b = GetParam();
  std::mt19937 rng(42);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t n = 16 * kQK_K;
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = normal(rng) * (i < n / 2 ? 0.02f : 3.f);
  const auto y = round_trip(b.type, x);
  EXPECT_LT(relative_rmse(x, y), b.max_relative_rmse);
  // Every super-block on its own as well (scales are per super-block).
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    std::vector<float> xs(x.begin() + blk * kQK_K, x.begin() + (blk + 1) * kQK_K);
    std::vector<float> ys(y.begin() + blk * kQK_K, y.begin() + (blk + 1) * kQK_K);
    EXPECT_LT(relative_rmse(xs, ys), 1.3 * b.max_relative_rmse) << "super-block " << blk;
  }
}

TEST_P(QuantsKRoundTrip, ZerosStayZero) {
  const std::vector<float> x(2 * kQK_K, 0.f);
  for (float v : round_trip(GetParam().type, x)) ASSERT_EQ(v, 0.f);
}

TEST_P(QuantsKRoundTrip, HardShapes) {
  const Bound b = GetParam();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  // 1: all positive with an offset (exercises the mins); 2: all negative;
  // 3: one large outlier; 4: one loud sub-block among quiet ones; 5: constant.
  std::vector<float> x(5 * kQK_K);
  for (int i = 0; i < kQK_K; ++i) {
    x[i] = 5.f + uniform(rng);
    x[kQK_K + i] = -2.f + 0.5f * uniform(rng);
    x[2 * kQK_K + i] = uniform(rng);
    x[3 * kQK_K + i] = (i / 16 == 6 ? 10.f : 0.1f) * uniform(rng);
    x[4 * kQK_K + i] = 0.75f;
  }
  x[2 * kQK_K + 77] = 40.f;
  const auto y = round_trip(b.type, x);
  for (int blk = 0; blk < 5; ++blk) {
    double err = 0, ref = 0, amax = 0;
    for (int i = blk * kQK_K; i < (blk + 1) * kQK_K; ++i) {
      ASSERT_TRUE(std::isfinite(y[i]));
      err += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
      ref += static_cast<double>(x[i]) * x[i];
      amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    }
    // The outlier blocks are dominated by their largest value; bound the error against it.
    EXPECT_LT(std::sqrt(err / kQK_K), 1.5 * b.max_relative_rmse * amax) << "shape " << blk;
    if (blk != 2 && blk != 3) {
      EXPECT_LT(std::sqrt(err / ref), 1.5 * b.max_relative_rmse) << "shape " << blk;
    }
  }
  EXPECT_NEAR(y[2 * kQK_K + 77], 40.f, 40.f * b.max_relative_rmse);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantsKRoundTrip,
                         ::testing::Values(Bound{DType::Q2_K, 0.30}, Bound{DType::Q3_K, 0.18},
                                           Bound{DType::Q4_K, 0.085}, Bound{DType::Q5_K, 0.043},
                                           Bound{DType::Q6_K, 0.022}, Bound{DType::Q8_K, 0.009}),
                         [](const auto& info) { return std::string(dtype_name(info.param.type)); });

TEST(QuantsK, Q8KLayout) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-3.f, 3.f);
  std::vector<float> x(3 * kQK_K);
  for (float& v : x) v = uniform(rng);
  // The value of largest magnitude maps to -127 whatever its sign (ggml's convention).
  x[100] = 7.f;
  x[kQK_K + 5] = -9.f;
  for (int i = 2 * kQK_K; i < 3 * kQK_K; ++i) x[i] = 0.f;  // block 2: zeros
  std::vector<BlockQ8_K> q(3);
  kquant_quant_ops(DType::Q8_K)->quantize(x.data(), q.data(), 3 * kQK_K);
  EXPECT_EQ(q[0].qs[100], -127);
  EXPECT_FLOAT_EQ(q[0].d, -7.f / 127);
  EXPECT_EQ(q[1].qs[5], -127);
  EXPECT_FLOAT_EQ(q[1].d, 9.f / 127);
  EXPECT_EQ(q[2].d, 0.f);
  for (int b = 0; b < 3; ++b) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) {
        sum += q[b].qs[16 * j + l];
        ASSERT_GE(q[b].qs[16 * j + l], -127);
      }
      EXPECT_EQ(q[b].bsums[j], sum) << "block " << b << " group " << j;
    }
    for (int i = 0; i < kQK_K; ++i)
      EXPECT_NEAR(q[b].d * q[b].qs[i], x[b * kQK_K + i], std::fabs(q[b].d) * 0.5f + 1e-6f);
  }
}

}  // namespace
}  // namespace kiln
