// Every SIMD kernel of the float and legacy weight types against the scalar reference, at
// every ISA this CPU supports: the activation quantizers (bit for bit), vec_dot, and the
// tiled gemm entry point on rectangles that are not multiples of the register tiles.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/vec_dot.h"
#include "kernels/cpu/vec_dot_internal.h"
#include "tensor/quants.h"
#include "util/fp16.h"

namespace kiln::cpu {
namespace {

constexpr DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0,
                            DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0};

std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// rows x n weights of `type`, from random floats (offset for the _1 types' minimum).
std::vector<uint8_t> random_weights(DType type, int64_t rows, int64_t n, uint32_t seed) {
  const bool with_min = type == DType::Q4_1 || type == DType::Q5_1;
  const auto f = random_floats(rows * n, seed, with_min ? -0.3f : -1.0f, 1.0f);
  std::vector<uint8_t> w(rows * dtype_row_bytes(type, n));
  for (int64_t r = 0; r < rows; ++r)
    quant_ops(type)->quantize(&f[r * n], &w[r * dtype_row_bytes(type, n)], n);
  return w;
}

struct Param {
  DType type;
  Isa isa;
};

std::string param_name(const testing::TestParamInfo<Param>& info) {
  return std::string(dtype_name(info.param.type)) + "_" + isa_name(info.param.isa);
}

std::vector<Param> all_params() {
  std::vector<Param> v;
  for (DType t : kTypes)
    for (Isa i : {Isa::kAvx2, Isa::kAvx512}) v.push_back({t, i});
  return v;
}

class VecDotIsaTest : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam().isa)) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam().isa);
    ref_ = vec_dot_kernel(GetParam().type, Isa::kScalar);
    simd_ = vec_dot_kernel(GetParam().type, GetParam().isa);
    ASSERT_NE(ref_, nullptr);
    ASSERT_NE(simd_, nullptr);
    ASSERT_EQ(ref_->act_type, simd_->act_type);
  }
  // Activation row of n elements in the reference format.
  std::vector<uint8_t> ref_act(const float* x, int64_t n) const {
    std::vector<uint8_t> a(dtype_row_bytes(ref_->act_type, n));
    ref_->quantize_act(x, a.data(), n);
    return a;
  }
  // Tolerance for a dot product whose float terms have absolute sum `mag`: the integer
  // block sums are exact; only the float accumulation order differs.
  static float tol(double mag) { return (float)(1e-5 * mag + 1e-6); }

  const VecDotKernel* ref_ = nullptr;
  const VecDotKernel* simd_ = nullptr;
};

TEST_P(VecDotIsaTest, QuantizeActMatchesReferenceBitForBit) {
  const int64_t n = 32 * 9;
  auto x = random_floats(n, 11);
  // A block with exact halves (amax = 127 makes d = 1) to pin the rounding of ties.
  for (int j = 0; j < 32; ++j) x[j] = (float)(j - 16) + 0.5f;
  x[31] = 127.0f;
  // And an all-zero block.
  for (int j = 32; j < 64; ++j) x[j] = 0.0f;
  const auto expect = ref_act(x.data(), n);
  std::vector<uint8_t> got(expect.size());
  simd_->quantize_act(x.data(), got.data(), n);
  EXPECT_EQ(got, expect);
}

// The legacy gemm kernels' own activation layout holds exactly the reference quants.
TEST_P(VecDotIsaTest, GemmPanelMatchesReferenceQuantizer) {
  if (simd_->gemm_quantize_act == nullptr) GTEST_SKIP() << "F32 activations";
  const int64_t n = 32 * 41;  // two 16-block groups and a tail
  auto x = random_floats(n, 21, -3.0f, 2.0f);
  for (int j = 0; j < 32; ++j) x[j] = (float)(j - 16) + 0.5f;  // ties (d = 1)
  x[31] = 127.0f;
  for (int j = 64; j < 96; ++j) x[j] = 0.0f;              // a zero block
  for (int j = 32 * 20; j < 32 * 21; ++j) x[j] *= 1e-6f;  // a tiny scale
  std::vector<uint8_t> ref(dtype_row_bytes(DType::Q8_1, n));
  quant_ops(DType::Q8_1)->quantize(x.data(), ref.data(), n);
  std::vector<uint8_t> panel(simd_->gemm_act_row_bytes(n) + 64);
  uint8_t* base = panel.data() + (64 - reinterpret_cast<uintptr_t>(panel.data()) % 64) % 64;
  simd_->gemm_quantize_act(x.data(), base, n);
  const auto* blocks = reinterpret_cast<const BlockQ8_1*>(ref.data());
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* rec = base + b * kQ8PanelRecordBytes;
    ASSERT_EQ(0, std::memcmp(rec, blocks[b].qs, 32)) << "block " << b;
    float d, s;
    int32_t bias;
    std::memcpy(&d, rec + 32, 4);
    std::memcpy(&s, rec + 36, 4);
    std::memcpy(&bias, rec + 40, 4);
    int32_t sum = 0;
    for (int j = 0; j < 32; ++j) sum += blocks[b].qs[j];
    EXPECT_EQ(d, fp16_to_fp32(blocks[b].d)) << "block " << b;
    EXPECT_EQ(s, fp16_to_fp32(blocks[b].s)) << "block " << b;
    EXPECT_EQ(bias % (sum == 0 ? 1 : sum), 0) << "block " << b;  // -zero_point * sum
  }
}

TEST_P(VecDotIsaTest, VecDotMatchesScalar) {
  const DType type = GetParam().type;
  for (int64_t n : {32, 64, 96, 256, 32 * 18, 32 * 48}) {
    const auto w = random_weights(type, 1, n, 100 + (uint32_t)n);
    const auto x = random_floats(n, 200 + (uint32_t)n);
    const auto act = ref_act(x.data(), n);
    float expect = 0, got = 0;
    ref_->vec_dot(n, &expect, w.data(), act.data());
    simd_->vec_dot(n, &got, w.data(), act.data());
    // Magnitude of the terms, from the dequantized weights and the float activations.
    std::vector<float> wf(n);
    quant_ops(type)->dequantize(w.data(), wf.data(), n);
    double mag = 0;
    for (int64_t i = 0; i < n; ++i) mag += std::fabs(wf[i] * x[i]);
    EXPECT_NEAR(got, expect, tol(mag)) << "n=" << n;
  }
}

TEST_P(VecDotIsaTest, GemmMatchesScalarVecDot) {
  if (simd_->gemm == nullptr) GTEST_SKIP() << "no tiled kernel";
  const DType type = GetParam().type;
  const bool is_float = ref_->act_type == DType::F32;
  for (int64_t n : {is_float ? int64_t{40} : int64_t{64}, int64_t{32 * 18}}) {
    const int64_t w_stride = dtype_row_bytes(type, n);
    for (int64_t rows : {1, 3, 16, 17, 35}) {
      for (int64_t tokens : {1, 2, 3, 4, 5, 13, 37}) {
        const auto w = random_weights(type, rows, n, (uint32_t)(rows * 131 + n));
        const auto x = random_floats(tokens * n, (uint32_t)(tokens * 17 + n));
        // Gemm activations in the kernel's own layout.
        int64_t act_stride = n * 4;
        std::vector<uint8_t> gact;
        const void* act = x.data();
        if (simd_->gemm_quantize_act != nullptr) {
          act_stride = simd_->gemm_act_row_bytes(n);
          ASSERT_EQ(act_stride % 64, 0);
          gact.resize(act_stride * tokens + 64);
          uint8_t* base = gact.data() + (64 - reinterpret_cast<uintptr_t>(gact.data()) % 64) % 64;
          for (int64_t t = 0; t < tokens; ++t)
            simd_->gemm_quantize_act(&x[t * n], base + t * act_stride, n);
          act = base;
        }
        // Output with a guard column on each side of the rectangle.
        const int64_t out_stride = rows + 2;
        std::vector<float> out(tokens * out_stride, -7.0f);
        simd_->gemm(n, rows, tokens, w.data(), w_stride, act, act_stride, out.data() + 1,
                    out_stride);
        std::vector<float> wf(n);
        for (int64_t t = 0; t < tokens; ++t) {
          const auto ra = ref_act(&x[t * n], n);
          EXPECT_EQ(out[t * out_stride], -7.0f);
          EXPECT_EQ(out[t * out_stride + rows + 1], -7.0f);
          for (int64_t r = 0; r < rows; ++r) {
            float expect = 0;
            ref_->vec_dot(n, &expect, &w[r * w_stride], ra.data());
            quant_ops(type)->dequantize(&w[r * w_stride], wf.data(), n);
            double mag = 0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(wf[i] * x[t * n + i]);
            ASSERT_NEAR(out[t * out_stride + 1 + r], expect, tol(mag))
                << "n=" << n << " rows=" << rows << " tokens=" << tokens << " r=" << r
                << " t=" << t;
          }
        }
      }
    }
  }
}

// The AMX prompt path (AVX-512 tier, where the CPU and OS allow it) equals the VNNI path
// bit for bit: same integer block sums, same float operations in the same order.
TEST_P(VecDotIsaTest, AmxMatchesVnniBitForBit) {
  if (GetParam().isa != Isa::kAvx512 || simd_->gemm_quantize_act == nullptr)
    GTEST_SKIP() << "AMX is a path of the AVX-512 legacy kernels";
  if (!amx_int8_available()) GTEST_SKIP() << "no AMX-INT8 on this CPU/OS";
  const DType type = GetParam().type;
  const int64_t n = 32 * 40, rows = 35, tokens = 53;  // > kPackBlocks; tiles + VNNI tail
  const int64_t w_stride = dtype_row_bytes(type, n);
  const auto w = random_weights(type, rows, n, 5);
  const auto x = random_floats(tokens * n, 6);
  const int64_t act_stride = simd_->gemm_act_row_bytes(n);
  std::vector<uint8_t> gact(act_stride * tokens + 64);
  uint8_t* act = gact.data() + (64 - reinterpret_cast<uintptr_t>(gact.data()) % 64) % 64;
  for (int64_t t = 0; t < tokens; ++t) simd_->gemm_quantize_act(&x[t * n], act + t * act_stride, n);
  std::vector<float> with_amx(rows * tokens), without(rows * tokens);
  const bool was = amx_enabled();
  set_amx_enabled(true);
  simd_->gemm(n, rows, tokens, w.data(), w_stride, act, act_stride, with_amx.data(), rows);
  set_amx_enabled(false);
  simd_->gemm(n, rows, tokens, w.data(), w_stride, act, act_stride, without.data(), rows);
  set_amx_enabled(was);
  EXPECT_EQ(with_amx, without);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDotIsaTest, testing::ValuesIn(all_params()), param_name);

// The float types take any length: tails shorter than a vector, in vec_dot and gemm.
TEST(VecDotFloat, HandlesTails) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    for (DType type : {DType::F32, DType::F16, DType::BF16}) {
      const VecDotKernel* ref = vec_dot_kernel(type, Isa::kScalar);
      const VecDotKernel* simd = vec_dot_kernel(type, isa);
      ASSERT_NE(simd, nullptr);
      for (int64_t n : {1, 7, 15, 16, 17, 33, 100}) {
        const auto w = random_weights(type, 3, n, 300 + (uint32_t)n);
        const auto x = random_floats(2 * n, 400 + (uint32_t)n);
        const int64_t w_stride = dtype_row_bytes(type, n);
        float got[6];
        simd->gemm(n, 3, 2, w.data(), w_stride, x.data(), n * 4, got, 3);
        for (int64_t r = 0; r < 3; ++r) {
          for (int64_t t = 0; t < 2; ++t) {
            float expect = 0, dot = 0;
            ref->vec_dot(n, &expect, &w[r * w_stride], &x[t * n]);
            simd->vec_dot(n, &dot, &w[r * w_stride], &x[t * n]);
            EXPECT_NEAR(dot, expect, 1e-5 * n) << dtype_name(type) << " n=" << n;
            EXPECT_NEAR(got[t * 3 + r], expect, 1e-5 * n) << dtype_name(type) << " n=" << n;
          }
        }
      }
    }
  }
}

TEST(VecDotRegistry, ScalarCoversEveryType) {
  for (DType t : kTypes) {
    const VecDotKernel* k = vec_dot_kernel(t, Isa::kScalar);
    ASSERT_NE(k, nullptr) << dtype_name(t);
    const DType expect_act = t == DType::Q4_1 || t == DType::Q5_1 ? DType::Q8_1
                             : t == DType::Q4_0 || t == DType::Q5_0 || t == DType::Q8_0
                                 ? DType::Q8_0
                                 : DType::F32;
    EXPECT_EQ(k->act_type, expect_act) << dtype_name(t);
  }
  EXPECT_EQ(float_vec_dot_kernel(DType::Q4_0, Isa::kScalar), nullptr);
  EXPECT_EQ(legacy_vec_dot_kernel(DType::F32, Isa::kScalar), nullptr);
  EXPECT_EQ(legacy_vec_dot_kernel(DType::Q4_K, Isa::kScalar), nullptr);
}

// The scalar kernels against a plain double-precision sum over dequantized values.
TEST(VecDotScalar, MatchesDequantizedDot) {
  for (DType type : kTypes) {
    const int64_t n = 32 * 5;
    const VecDotKernel* k = vec_dot_kernel(type, Isa::kScalar);
    const auto w = random_weights(type, 1, n, 77);
    const auto x = random_floats(n, 78);
    std::vector<uint8_t> act(dtype_row_bytes(k->act_type, n));
    k->quantize_act(x.data(), act.data(), n);
    std::vector<float> wf(n), xf(n);
    quant_ops(type)->dequantize(w.data(), wf.data(), n);
    quant_ops(k->act_type)->dequantize(act.data(), xf.data(), n);
    double expect = 0, mag = 0;
    for (int64_t i = 0; i < n; ++i)
      expect += (double)wf[i] * xf[i], mag += std::fabs(wf[i] * xf[i]);
    float got = 0;
    k->vec_dot(n, &got, w.data(), act.data());
    // The _1 types use s = fp16(d * sum(q)) for the minimum's term, as ggml does.
    const double tol = (type == DType::Q4_1 || type == DType::Q5_1) ? 2e-3 * mag : 1e-5 * mag;
    EXPECT_NEAR(got, expect, tol + 1e-6) << dtype_name(type);
  }
}

}  // namespace
}  // namespace kiln::cpu
