// matmul against a double-precision product of the dequantized weights, for every weight
// type with a kernel here and every ISA the CPU supports, on shapes that are not
// multiples of the kernels' tiles, at 1 and 3 threads; plus invariance checks (threads,
// batch of one vs many for every weight type including the k-quants, ISA vs scalar).
#include "kernels/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/packed_weights.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/cpu/vec_dot_internal.h"
#include "tensor/quants.h"

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

struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> dequantized;
  WeightMatrix matrix;
};

Weights make_weights(DType type, int64_t rows, int64_t cols, uint32_t seed) {
  Weights w;
  const bool with_min = type == DType::Q4_1 || type == DType::Q5_1;
  const auto f = random_floats(rows * cols, seed, with_min ? -0.3f : -1.0f, 1.0f);
  const int64_t row_bytes = dtype_row_bytes(type, cols);
  w.bytes.resize(rows * row_bytes);
  w.dequantized.resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    quant_ops(type)->quantize(&f[r * cols], &w.bytes[r * row_bytes], cols);
    quant_ops(type)->dequantize(&w.bytes[r * row_bytes], &w.dequantized[r * cols], cols);
  }
  w.matrix = {type, w.bytes.data(), rows, cols};
  return w;
}

// Allowed error of one output: the activation quantization (half a step of the token's
// block scale, plus its fp16 rounding, per element), and float rounding.
double tolerance(const Weights& w, int64_t r, const float* x, bool quantized_act) {
  const int64_t cols = w.matrix.cols;
  const float* wr = &w.dequantized[r * cols];
  double mag = 0, act_err = 0;
  for (int64_t i = 0; i < cols; ++i) mag += std::fabs((double)wr[i] * x[i]);
  if (quantized_act) {
    for (int64_t b = 0; b < cols / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
      for (int j = 0; j < 32; ++j) act_err += std::fabs(wr[b * 32 + j]) * 0.6 * amax / 127;
    }
    return act_err + 2e-3 * mag + 1e-5;
  }
  return 1e-5 * mag + 1e-6;
}

struct Param {
  DType type;
  Isa isa;
};

class MatmulTest : public testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (!isa_supported(GetParam().isa)) GTEST_SKIP() << "CPU lacks " << isa_name(GetParam().isa);
    ASSERT_TRUE(matmul_supported(GetParam().type));
  }
};

TEST_P(MatmulTest, MatchesDoublePrecisionProduct) {
  const DType type = GetParam().type;
  const Isa isa = GetParam().isa;
  const bool quantized_act = vec_dot_kernel(type, Isa::kScalar)->act_type != DType::F32;
  ThreadPool pool1(1), pool3(3);
  MatmulScratch scratch;
  for (int64_t cols : {quantized_act ? int64_t{96} : int64_t{40}, int64_t{256}}) {
    for (int64_t rows : {1, 3, 17, 67}) {
      const Weights w = make_weights(type, rows, cols, (uint32_t)(rows * 7 + cols));
      for (int64_t tokens : {1, 2, 5, 13}) {
        const auto x = random_floats(tokens * cols, (uint32_t)(tokens * 31 + cols));
        std::vector<float> y1(tokens * rows, NAN), y3(tokens * rows, NAN);
        matmul(w.matrix, x.data(), tokens, y1.data(), pool1, scratch, isa);
        matmul(w.matrix, x.data(), tokens, y3.data(), pool3, scratch, isa);
        // Threads only change who computes an output, never how.
        ASSERT_EQ(y1, y3) << "rows=" << rows << " tokens=" << tokens;
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double expect = 0;
            for (int64_t c = 0; c < cols; ++c)
              expect += (double)w.dequantized[r * cols + c] * x[t * cols + c];
            ASSERT_NEAR(y1[t * rows + r], expect, tolerance(w, r, &x[t * cols], quantized_act))
                << "cols=" << cols << " rows=" << rows << " tokens=" << tokens << " r=" << r
                << " t=" << t;
          }
        }
      }
    }
  }
}

TEST_P(MatmulTest, BatchOfOneEqualsBatchOfMany) {
  const DType type = GetParam().type;
  const Isa isa = GetParam().isa;
  const int64_t rows = 37, cols = 128, tokens = 70;  // > one 64-token task, odd tails
  const Weights w = make_weights(type, rows, cols, 5);
  const auto x = random_floats(tokens * cols, 6);
  ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<float> batch(tokens * rows);
  matmul(w.matrix, x.data(), tokens, batch.data(), pool, scratch, isa);
  for (int64_t t : {0, 1, 33, 63, 64, 69}) {
    std::vector<float> one(rows);
    matmul(w.matrix, &x[t * cols], 1, one.data(), pool, scratch, isa);
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(one[r], batch[t * rows + r]) << t << " " << r;
  }
}

TEST_P(MatmulTest, AgreesWithScalarIsa) {
  const DType type = GetParam().type;
  const int64_t rows = 50, cols = 32 * 18, tokens = 9;
  const Weights w = make_weights(type, rows, cols, 9);
  const auto x = random_floats(tokens * cols, 10);
  ThreadPool pool(2);
  MatmulScratch scratch;
  std::vector<float> ref(tokens * rows), got(tokens * rows);
  matmul(w.matrix, x.data(), tokens, ref.data(), pool, scratch, Isa::kScalar);
  matmul(w.matrix, x.data(), tokens, got.data(), pool, scratch, GetParam().isa);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double mag = 0;
      for (int64_t c = 0; c < cols; ++c)
        mag += std::fabs((double)w.dequantized[r * cols + c] * x[t * cols + c]);
      ASSERT_NEAR(got[t * rows + r], ref[t * rows + r], 1e-5 * mag + 1e-6) << t << " " << r;
    }
  }
}

std::vector<Param> all_params() {
  std::vector<Param> v;
  for (DType t : kTypes)
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) v.push_back({t, i});
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulTest, testing::ValuesIn(all_params()),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::string(dtype_name(info.param.type)) + "_" +
                                  isa_name(info.param.isa);
                         });

// Batch invariance, which lets the engine batch requests without changing their tokens: a
// token's output row is the same bits whether the call has 1, 16 or 100 tokens and wherever
// the token sits among them, for every weight type and ISA, on 1 or 3 threads, and (for the
// legacy types on AVX-512 where the CPU has it) with the AMX prompt path on.
class MatmulBatchInvarianceTest : public testing::TestWithParam<Param> {};

TEST_P(MatmulBatchInvarianceTest, TokenRowDoesNotDependOnTheOtherTokens) {
  const auto [type, isa] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << "CPU lacks " << isa_name(isa);
  const int64_t rows = 67, cols = 512, max_tokens = 100;
  const Weights w = make_weights(type, rows, cols, 21);
  const auto x = random_floats(max_tokens * cols, 22);
  ThreadPool pool1(1), pool3(3);
  MatmulScratch scratch;
  std::vector<float> alone(max_tokens * rows);
  for (int64_t t = 0; t < max_tokens; ++t)
    matmul(w.matrix, &x[t * cols], 1, &alone[t * rows], pool1, scratch, isa);
  std::vector<bool> amx_modes = {false};
  if (isa == Isa::kAvx512 && amx_int8_available()) amx_modes.push_back(true);
  const bool amx_was = amx_enabled();
  for (bool amx : amx_modes) {
    set_amx_enabled(amx);
    for (ThreadPool* pool : {&pool1, &pool3}) {
      for (int64_t tokens : {16, 100}) {
        for (int64_t first : {int64_t{0}, max_tokens - tokens, (max_tokens - tokens) / 3}) {
          std::vector<float> y(tokens * rows);
          matmul(w.matrix, &x[first * cols], tokens, y.data(), *pool, scratch, isa);
          for (int64_t t = 0; t < tokens; ++t)
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_EQ(y[t * rows + r], alone[(first + t) * rows + r])
                  << "amx " << amx << " threads " << pool->num_threads() << " tokens " << tokens
                  << " token " << first + t << " row " << r;
        }
      }
    }
  }
  set_amx_enabled(amx_was);
}

std::vector<Param> invariance_params() {
  std::vector<Param> v;
  for (DType t : kTypes)
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) v.push_back({t, i});
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
    for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) v.push_back({t, i});
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulBatchInvarianceTest,
                         testing::ValuesIn(invariance_params()),
                         [](const testing::TestParamInfo<Param>& info) {
                           return std::string(dtype_name(info.param.type)) + "_" +
                                  isa_name(info.param.isa);
                         });

// q/k/v and gate/up go through matmul_same_input: each output must be what matmul alone
// gives, bit for bit, with formats shared (two k-quants) and not (F32, Q4_0, Q8_0).
TEST(Matmul, SameInputEqualsSeparateCalls) {
  const int64_t cols = 256;
  ThreadPool pool(3);
  MatmulScratch scratch;
  const Weights a = make_weights(DType::Q4_K, 48, cols, 1), b = make_weights(DType::Q6_K, 16, cols, 2),
                c = make_weights(DType::Q4_0, 35, cols, 3), d = make_weights(DType::F32, 7, cols, 4);
  const Weights e = make_weights(DType::Q8_0, 64, cols, 5);
  // Packed copies of a and e, as the loader makes them for the AVX-512 tier.
  std::vector<uint8_t> a_packed(packed_weights_bytes(DType::Q4_K, 48, cols)),
      e_packed(packed_weights_bytes(DType::Q8_0, 64, cols));
  pack_weight_groups(DType::Q4_K, a.bytes.data(), cols, 0, 3, a_packed.data());
  pack_weight_groups(DType::Q8_0, e.bytes.data(), cols, 0, 4, e_packed.data());
  WeightMatrix a_p = a.matrix, e_p = e.matrix;
  a_p.packed = a_packed.data();
  e_p.packed = e_packed.data();
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    for (int64_t tokens : {1, 9}) {
      const auto x = random_floats(tokens * cols, (uint32_t)tokens);
      const WeightMatrix ws[] = {a_p, b.matrix, c.matrix, e_p};
      std::vector<std::vector<float>> together(4), alone(4);
      float* ys[4];
      for (int i = 0; i < 4; ++i) {
        together[i].assign(tokens * ws[i].rows, NAN);
        alone[i].assign(tokens * ws[i].rows, NAN);
        ys[i] = together[i].data();
        matmul(ws[i], x.data(), tokens, alone[i].data(), pool, scratch, isa);
      }
      matmul_same_input(ws, ys, x.data(), tokens, pool, scratch, isa);
      for (int i = 0; i < 4; ++i) EXPECT_EQ(together[i], alone[i]) << isa_name(isa) << " " << i;
      // A float matrix reads x directly.
      const WeightMatrix mixed[] = {d.matrix, a.matrix};
      std::vector<float> y0(tokens * 7), y1(tokens * 48), r0(tokens * 7), r1(tokens * 48);
      float* const mixed_ys[] = {y0.data(), y1.data()};
      matmul_same_input(mixed, mixed_ys, x.data(), tokens, pool, scratch, isa);
      matmul(d.matrix, x.data(), tokens, r0.data(), pool, scratch, isa);
      matmul(a.matrix, x.data(), tokens, r1.data(), pool, scratch, isa);
      EXPECT_EQ(y0, r0);
      EXPECT_EQ(y1, r1);
    }
  }
}

// A prologue runs inside the matmul's region, over ranges of tokens on any thread: every row
// is prepared exactly once, before any product reads it, and the outputs are those of the
// prologue's work done first and the matmul after, bit for bit, for one token (prepared
// before the region) and for batches cut into ranges, formats shared or not and a float
// matrix that reads x itself.
TEST(Matmul, PrologueEqualsPreparingFirst) {
  const int64_t cols = 256;
  const Weights a = make_weights(DType::Q4_K, 48, cols, 1), b = make_weights(DType::Q4_0, 35, cols, 3),
                f = make_weights(DType::F32, 7, cols, 4);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (int64_t tokens : {1, 2, 5, 16, 40}) {
      const auto raw = random_floats(tokens * cols, (uint32_t)(tokens + 100 * threads));
      // The preparation: a row-wise scale by the row's index plus one (any row-local work).
      auto prepare = [&](float* x, int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t c = 0; c < cols; ++c) x[t * cols + c] = raw[t * cols + c] * (float)(t + 1);
      };
      std::vector<float> prepared(tokens * cols);
      prepare(prepared.data(), 0, tokens);
      const WeightMatrix ws[] = {a.matrix, b.matrix, f.matrix};
      std::vector<std::vector<float>> expect(3), got(3);
      float* ys[3];
      for (int i = 0; i < 3; ++i) {
        matmul(ws[i], prepared.data(), tokens, (expect[i] = std::vector<float>(tokens * ws[i].rows)).data(),
               pool, scratch);
        got[i].assign(tokens * ws[i].rows, NAN);
        ys[i] = got[i].data();
      }
      std::vector<float> x(tokens * cols, NAN);
      std::vector<int> times_prepared(tokens, 0);
      const auto prologue = [&](int64_t t0, int64_t t1) {
        prepare(x.data(), t0, t1);
        for (int64_t t = t0; t < t1; ++t) ++times_prepared[t];  // ranges are disjoint
      };
      matmul_same_input(ws, ys, x.data(), tokens, pool, scratch, ActivationPrologue::of(prologue));
      for (int i = 0; i < 3; ++i)
        EXPECT_EQ(got[i], expect[i]) << "threads " << threads << " tokens " << tokens << " " << i;
      EXPECT_EQ(times_prepared, std::vector<int>(tokens, 1)) << threads << " " << tokens;
    }
  }
}

TEST(Matmul, SupportedTypes) {
  for (DType t : kTypes) EXPECT_TRUE(matmul_supported(t)) << dtype_name(t);
  EXPECT_FALSE(matmul_supported(DType::I32));
  EXPECT_FALSE(matmul_supported(DType::Q8_1));  // an activation format, not a weight type
}

TEST(Matmul, EmptyInputsAreNoOps) {
  const Weights w = make_weights(DType::Q8_0, 4, 64, 1);
  ThreadPool pool(2);
  MatmulScratch scratch;
  float y = 5.0f;
  matmul(w.matrix, nullptr, 0, &y, pool, scratch);
  EXPECT_EQ(y, 5.0f);
}

}  // namespace
}  // namespace kiln::cpu
