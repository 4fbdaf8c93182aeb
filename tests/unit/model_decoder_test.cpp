// The shared decoder and the per-architecture factories on tiny random F32 models written
// here: architecture dispatch and its errors, the tensors each architecture requires, and
// invariance of the logits under chunking (one forward pass over the prompt equals token by
// token and small batches). Numerical agreement with an independent implementation is
// tests/reference/test_tiny_models.py's and the real-model tests' job.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "engine/session.h"
#include "model/model.h"
#include "tiny_model.h"
#include "util/thread_pool.h"

namespace kiln {
namespace {

using testing_tiny::gemma3_spec;
using testing_tiny::load;
using testing_tiny::temp_path;
using testing_tiny::TinySpec;
using testing_tiny::write_tiny;

TEST(ModelLoadTest, UnsupportedArchitectureListsTheSupportedOnes) {
  TinySpec s;
  s.arch = "mamba";
  const std::string path = write_tiny(s, temp_path(""));
  ThreadPool pool(1);
  auto l = load(path, pool);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.message().find(path + ": unsupported architecture 'mamba'"), std::string::npos)
      << l.message();
  EXPECT_NE(l.message().find("llama, qwen2, qwen3, gemma3"), std::string::npos) << l.message();
}

TEST(ModelLoadTest, EachArchitectureNamesTheTensorItLacks) {
  struct Case {
    std::string arch, missing;
  };
  for (const Case& c :
       {Case{"qwen2", "blk.1.attn_k.bias"}, Case{"qwen3", "blk.0.attn_q_norm.weight"},
        Case{"gemma3", "blk.1.post_ffw_norm.weight"}, Case{"llama", "blk.1.ffn_up.weight"}}) {
    TinySpec s;
    s.arch = c.arch;
    s.qkv_bias = c.arch == "qwen2";
    s.qk_norm = c.arch == "qwen3" || c.arch == "gemma3";
    s.post_norms = c.arch == "gemma3";
    const std::string path = write_tiny(s, temp_path("_" + c.arch));
    ThreadPool pool(1);
    ASSERT_TRUE(load(path, pool).ok()) << c.arch << ": " << load(path, pool).message();
    s.skip = {c.missing};
    write_tiny(s, path);
    auto l = load(path, pool);
    ASSERT_FALSE(l.ok()) << c.arch;
    EXPECT_NE(l.message().find("missing tensor '" + c.missing + "'"), std::string::npos)
        << l.message();
  }
}

TEST(ModelLoadTest, LlamaUsesBiasesWhenPresent) {
  // Two files with the same weights (the random stream is consumed the same way), one with
  // zero biases and one with random ones: their logits must differ.
  TinySpec s;
  s.qkv_bias = true;
  s.bias_scale = 0.0f;
  const std::string zero_path = write_tiny(s, temp_path("_zero"));
  s.bias_scale = 0.5f;
  const std::string bias_path = write_tiny(s, temp_path("_bias"));
  ThreadPool pool(1);
  auto zero = load(zero_path, pool);
  auto bias = load(bias_path, pool);
  ASSERT_TRUE(zero.ok()) << zero.message();
  ASSERT_TRUE(bias.ok()) << bias.message();
  const std::vector<int32_t> ids = {1, 2, 3};
  Session a(*zero->model, 8), b(*bias->model, 8);
  ASSERT_TRUE(a.append(ids).ok());
  ASSERT_TRUE(b.append(ids).ok());
  float diff = 0;
  for (size_t i = 0; i < a.last_logits().size(); ++i)
    diff = std::max(diff, std::abs(a.last_logits()[i] - b.last_logits()[i]));
  EXPECT_GT(diff, 1e-2f);
}

// Runs `ids` through a fresh session in chunks of `chunk` tokens; returns every logit row.
std::vector<float> run_chunked(Model& model, const std::vector<int32_t>& ids, size_t chunk,
                               KvDType kv_dtype) {
  Session session(model, (int64_t)ids.size(), kv_dtype);
  std::vector<float> all;
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t n = std::min(chunk, ids.size() - start);
    EXPECT_TRUE(session.append(std::span<const int32_t>(ids).subspan(start, n), true).ok());
    all.insert(all.end(), session.logits().begin(), session.logits().end());
  }
  return all;
}

class DecoderChunkingTest : public testing::TestWithParam<std::tuple<std::string, KvDType>> {};

// Chunks change only the summation order inside attention. With F32 KV that moves the
// logits by float rounding; with F16/BF16 KV such a difference can also flip the rounding of
// a stored K or V element (one step of 2^-11 or 2^-8 relative), hence the wider bounds.
TEST_P(DecoderChunkingTest, OnePassEqualsTokenByTokenAndSmallBatches) {
  const auto& [arch, kv_dtype] = GetParam();
  const float tol = kv_dtype == KvDType::kF32 ? 1e-4f : kv_dtype == KvDType::kF16 ? 1e-3f : 1e-2f;
  TinySpec s = arch == "gemma3" ? gemma3_spec() : TinySpec{};
  s.arch = arch;
  s.qkv_bias = s.arch == "qwen2";
  s.qk_norm = s.qk_norm || s.arch == "qwen3";
  if (s.arch == "qwen3") s.head_dim = 12;  // q is 48 wide, d_model 32
  const std::string path = write_tiny(s, temp_path("_" + s.arch));
  ThreadPool pool(2);
  auto l = load(path, pool);
  ASSERT_TRUE(l.ok()) << l.message();
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % (int)s.vocab);
  const std::vector<float> whole = run_chunked(*l->model, ids, ids.size(), kv_dtype);
  for (size_t chunk : {1, 3, 16}) {
    const std::vector<float> got = run_chunked(*l->model, ids, chunk, kv_dtype);
    ASSERT_EQ(got.size(), whole.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i]));
      ASSERT_NEAR(got[i], whole[i], tol * (1.0f + std::abs(whole[i])))
          << s.arch << " chunk " << chunk << " row " << i / s.vocab;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, DecoderChunkingTest,
                         testing::Combine(testing::Values("llama", "qwen2", "qwen3", "gemma3"),
                                          testing::Values(KvDType::kF32, KvDType::kF16,
                                                          KvDType::kBF16)),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" +
                                  kv_dtype_name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace kiln
