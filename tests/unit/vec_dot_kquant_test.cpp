// k-quant dot-product kernels: the scalar reference against a double dot product of the
// dequantized operands, and every SIMD kernel the CPU can run against the scalar one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"
#include "tensor/quants.h"
#include "util/cpu_features.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace kiln::cpu {
namespace {

constexpr DType kTypes[] = {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// Writes the fp16 super-block scale(s) of a weight block (dmin only where the type has one).
void set_scales(DType type, uint8_t* block, float d, float dmin) {
  auto put = [&](size_t offset, float v) {
    const uint16_t h = fp32_to_fp16(v);
    std::memcpy(block + offset, &h, 2);
  };
  switch (type) {
    case DType::Q2_K:
      put(offsetof(BlockQ2_K, d), d);
      put(offsetof(BlockQ2_K, dmin), dmin);
      break;
    case DType::Q3_K:
      put(offsetof(BlockQ3_K, d), d);
      break;
    case DType::Q4_K:
      put(offsetof(BlockQ4_K, d), d);
      put(offsetof(BlockQ4_K, dmin), dmin);
      break;
    case DType::Q5_K:
      put(offsetof(BlockQ5_K, d), d);
      put(offsetof(BlockQ5_K, dmin), dmin);
      break;
    case DType::Q6_K:
      put(offsetof(BlockQ6_K, d), d);
      break;
    default:
      ADD_FAILURE();
  }
}

// Weight rows either from the quantizer or as random bytes with sane fp16 scales; random
// bytes reach every bit pattern (Q6_K scale -128, Q3_K scale -32, all high bits set...).
std::vector<uint8_t> random_weights(DType type, int64_t n, bool raw_bytes, std::mt19937& rng) {
  std::vector<uint8_t> w(dtype_row_bytes(type, n));
  if (!raw_bytes) {
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(n);
    for (float& v : x) v = normal(rng);
    kquant_quant_ops(type)->quantize(x.data(), w.data(), n);
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
  const int64_t block_bytes = dtype_block_bytes(type);
  for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
    const float d = scale(rng), dmin = scale(rng);
    set_scales(type, w.data() + blk * block_bytes, d, dmin);
  }
  return w;
}

std::vector<BlockQ8_K> quantized_activations(const VecDotKernel& k, int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  std::vector<BlockQ8_K> act(n / kQK_K);
  k.quantize_act(x.data(), act.data(), n);
  return act;
}

// The exact dot of the dequantized operands, and the sum of |w_i a_i| to scale tolerances.
std::pair<double, double> dequantized_dot(DType type, const void* w, const void* act, int64_t n) {
  std::vector<float> wf(n), af(n);
  kquant_quant_ops(type)->dequantize(w, wf.data(), n);
  kquant_quant_ops(DType::Q8_K)->dequantize(act, af.data(), n);
  double dot = 0, abs_dot = 0;
  for (int64_t i = 0; i < n; ++i) {
    dot += static_cast<double>(wf[i]) * af[i];
    abs_dot += std::fabs(static_cast<double>(wf[i]) * af[i]);
  }
  return {dot, abs_dot};
}

TEST(VecDotKquant, RegistryCoversEveryKQuantAtEveryIsa) {
  for (DType t : kTypes) {
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      const VecDotKernel* k = kquant_vec_dot_kernel(t, isa);
      ASSERT_NE(k, nullptr) << dtype_name(t) << " " << isa_name(isa);
      EXPECT_EQ(k->act_type, DType::Q8_K);
      EXPECT_NE(k->quantize_act, nullptr);
      EXPECT_NE(k->vec_dot, nullptr);
    }
  }
  for (DType t : {DType::F32, DType::Q4_0, DType::Q8_0, DType::Q8_K, DType::IQ4_XS})
    EXPECT_EQ(kquant_vec_dot_kernel(t, Isa::kScalar), nullptr) << dtype_name(t);
}

class VecDotKquantType : public ::testing::TestWithParam<DType> {};

TEST_P(VecDotKquantType, ScalarMatchesDequantizedDoubleDot) {
  const DType type = GetParam();
  const VecDotKernel& k = *kquant_vec_dot_kernel(type, Isa::kScalar);
  std::mt19937 rng(11);
  for (bool raw : {false, true}) {
    for (int64_t n : {256, 768, 2048}) {
      const auto w = random_weights(type, n, raw, rng);
      const auto act = quantized_activations(k, n, rng);
      float got = 0;
      k.vec_dot(n, &got, w.data(), act.data());
      const auto [want, abs_dot] = dequantized_dot(type, w.data(), act.data(), n);
      EXPECT_NEAR(got, want, 1e-5 * abs_dot + 1e-6) << "n=" << n << " raw=" << raw;
    }
  }
}

using IsaCase = std::tuple<DType, Isa>;
class VecDotKquantIsa : public ::testing::TestWithParam<IsaCase> {};

TEST_P(VecDotKquantIsa, MatchesScalar) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const VecDotKernel& ref = *kquant_vec_dot_kernel(type, Isa::kScalar);
  const VecDotKernel& simd = *kquant_vec_dot_kernel(type, isa);
  std::mt19937 rng(static_cast<unsigned>(type) * 7 + static_cast<unsigned>(isa));
  for (bool raw : {false, true}) {
    for (int64_t n : {256, 512, 1280, 4096}) {
      for (int rep = 0; rep < 4; ++rep) {
        const auto w = random_weights(type, n, raw, rng);
        const auto act = quantized_activations(simd, n, rng);
        float want = 0, got = 0;
        ref.vec_dot(n, &want, w.data(), act.data());
        simd.vec_dot(n, &got, w.data(), act.data());
        const double abs_dot = dequantized_dot(type, w.data(), act.data(), n).second;
        ASSERT_NEAR(got, want, 1e-5 * abs_dot + 1e-6) << "n=" << n << " raw=" << raw;
      }
    }
  }
}

// The largest magnitudes each format allows, against activations of +127 and of -128 (a
// Q8_K block the reference quantizer never writes, but a valid one): no int16 step may
// saturate. All-ones bytes give every quant its largest stored value; all-zero bytes its
// smallest (Q3_K: q = -4 with scale -32; Q6_K: q = -32, with scales set to -128).
TEST_P(VecDotKquantIsa, ExtremeValuesDoNotSaturate) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const int64_t n = 2 * kQK_K;
  for (uint8_t pattern : {uint8_t{0xFF}, uint8_t{0x00}}) {
    std::vector<uint8_t> w(dtype_row_bytes(type, n), pattern);
    for (int64_t blk = 0; blk < n / kQK_K; ++blk) {
      uint8_t* p = w.data() + blk * dtype_block_bytes(type);
      set_scales(type, p, 1.f, 0.5f);
      if (type == DType::Q6_K && pattern == 0) {
        auto* b = reinterpret_cast<BlockQ6_K*>(p);
        for (int8_t& sc : b->scales) sc = -128;
      }
    }
    for (int a : {-128, 127}) {
      std::vector<BlockQ8_K> act(n / kQK_K);
      for (auto& b : act) {
        b.d = 1.f;
        for (int8_t& q : b.qs) q = static_cast<int8_t>(a);
        for (int16_t& s : b.bsums) s = static_cast<int16_t>(16 * a);
      }
      float want = 0, got = 0;
      kquant_vec_dot_kernel(type, Isa::kScalar)->vec_dot(n, &want, w.data(), act.data());
      kquant_vec_dot_kernel(type, isa)->vec_dot(n, &got, w.data(), act.data());
      const auto [exact, abs_dot] = dequantized_dot(type, w.data(), act.data(), n);
      SCOPED_TRACE(::testing::Message() << "bytes " << int{pattern} << " activation " << a);
      // (All-zero bytes give Q2_K / Q4_K / Q5_K zero scales and mins.)
      const bool symmetric = type == DType::Q3_K || type == DType::Q6_K;
      if (pattern != 0 || symmetric) {
        EXPECT_NE(exact, 0.0);
      }
      EXPECT_NEAR(want, exact, 1e-6 * abs_dot);
      EXPECT_NEAR(got, want, 1e-6 * abs_dot);
    }
  }
}

TEST_P(VecDotKquantIsa, ZeroActivations) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const VecDotKernel& k = *kquant_vec_dot_kernel(type, isa);
  std::mt19937 rng(5);
  const int64_t n = 512;
  const auto w = random_weights(type, n, true, rng);
  const std::vector<float> x(n, 0.f);
  std::vector<BlockQ8_K> act(n / kQK_K);
  k.quantize_act(x.data(), act.data(), n);
  float got = 1;
  k.vec_dot(n, &got, w.data(), act.data());
  EXPECT_EQ(got, 0.f);
}

// gemm on every (rows, tokens) shape up to a few tiles, with padded strides: each output
// is bit-identical to the same ISA's vec_dot (the same code with one token) and outputs
// outside the rectangle are untouched.
TEST_P(VecDotKquantIsa, GemmMatchesVecDot) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  const VecDotKernel& k = *kquant_vec_dot_kernel(type, isa);
  ASSERT_NE(k.gemm, nullptr);
  ASSERT_NE(k.gemm_quantize_act, nullptr);
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t n = 768, max_rows = 5, max_tokens = 11;
  const int64_t w_stride = dtype_row_bytes(type, n) + 6;  // rows need not be packed
  const int64_t act_stride = k.gemm_act_row_bytes(n);
  ASSERT_EQ(act_stride % 64, 0);
  ASSERT_GE(act_stride, dtype_row_bytes(DType::Q8_K, n));
  std::vector<uint8_t> w(max_rows * w_stride);
  for (int64_t r = 0; r < max_rows; ++r) {
    const auto row = random_weights(type, n, r % 2 == 1, rng);
    std::memcpy(&w[r * w_stride], row.data(), row.size());
  }
  std::vector<float> x(max_tokens * n);
  for (float& v : x) v = normal(rng);
  std::vector<uint8_t> act_buf(max_tokens * act_stride + 64);
  uint8_t* act = act_buf.data() + (64 - reinterpret_cast<uintptr_t>(act_buf.data()) % 64) % 64;
  for (int64_t t = 0; t < max_tokens; ++t) k.gemm_quantize_act(&x[t * n], act + t * act_stride, n);
  const int64_t out_stride = max_rows + 3;
  for (int64_t rows = 1; rows <= max_rows; ++rows) {
    for (int64_t tokens = 1; tokens <= max_tokens; ++tokens) {
      std::vector<float> out(max_tokens * out_stride, -7.f);
      k.gemm(n, rows, tokens, w.data(), w_stride, act, act_stride, out.data(), out_stride);
      for (int64_t t = 0; t < max_tokens; ++t) {
        for (int64_t r = 0; r < out_stride; ++r) {
          if (t >= tokens || r >= rows) {
            ASSERT_EQ(out[t * out_stride + r], -7.f) << "wrote outside: t=" << t << " r=" << r;
            continue;
          }
          float want = 0;
          k.vec_dot(n, &want, &w[r * w_stride], act + t * act_stride);
          ASSERT_EQ(out[t * out_stride + r], want)
              << "rows=" << rows << " tokens=" << tokens << " t=" << t << " r=" << r;
        }
      }
    }
  }
}

// The matmul driver picks these kernels up: every output equals the scalar kernel's dot of
// that weight row with that token's Q8_K activations, and stays within the activation
// quantization error of the exact product.
TEST_P(VecDotKquantIsa, MatmulUsesTheKernels) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << isa_name(isa) << " not supported by this CPU";
  ASSERT_TRUE(matmul_supported(type));
  const VecDotKernel& ref = *kquant_vec_dot_kernel(type, Isa::kScalar);
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.f, 1.f);
  const int64_t rows = 19, cols = 512, tokens = 13;
  const int64_t row_bytes = dtype_row_bytes(type, cols);
  const auto w = random_weights(type, rows * cols, false, rng);
  std::vector<float> x(tokens * cols);
  for (float& v : x) v = normal(rng);
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (int64_t num_tokens : {int64_t{1}, tokens}) {
    std::vector<float> y(num_tokens * rows, NAN);
    matmul({type, w.data(), rows, cols}, x.data(), num_tokens, y.data(), pool, scratch, isa);
    for (int64_t t = 0; t < num_tokens; ++t) {
      std::vector<BlockQ8_K> act(cols / kQK_K);
      ref.quantize_act(&x[t * cols], act.data(), cols);
      std::vector<float> wf(cols);
      for (int64_t r = 0; r < rows; ++r) {
        float want = 0;
        ref.vec_dot(cols, &want, w.data() + r * row_bytes, act.data());
        const double abs_dot =
            dequantized_dot(type, w.data() + r * row_bytes, act.data(), cols).second;
        ASSERT_NEAR(y[t * rows + r], want, 1e-5 * abs_dot + 1e-6) << "t=" << t << " r=" << r;
        // Against the float activations: each differs from its Q8_K value by at most half a
        // step (|d| / 2) of its block.
        kquant_quant_ops(type)->dequantize(w.data() + r * row_bytes, wf.data(), cols);
        double exact = 0, act_err = 0;
        for (int64_t c = 0; c < cols; ++c) {
          exact += static_cast<double>(wf[c]) * x[t * cols + c];
          act_err += std::fabs(wf[c]) * std::fabs(act[c / kQK_K].d) * 0.5;
        }
        ASSERT_NEAR(y[t * rows + r], exact, act_err + 1e-5 * abs_dot + 1e-6);
      }
    }
  }
}

std::string type_name(DType t) { return std::string(dtype_name(t)); }

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDotKquantType, ::testing::ValuesIn(kTypes),
                         [](const auto& info) { return type_name(info.param); });

INSTANTIATE_TEST_SUITE_P(AllTypesAndIsas, VecDotKquantIsa,
                         ::testing::Combine(::testing::ValuesIn(kTypes),
                                            ::testing::Values(Isa::kAvx2, Isa::kAvx512)),
                         [](const auto& info) {
                           return type_name(std::get<0>(info.param)) + "_" +
                                  isa_name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace kiln::cpu
