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
#include <vector>

#include "engine/session.h"
#include "gguf/reader.h"
#include "gguf/writer.h"
#include "model/model.h"
#include "util/thread_pool.h"

namespace kiln {
namespace {

std::string temp_path(const std::string& suffix) {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("kiln_model_") + info->test_suite_name() + "_" + info->name();
  for (char& c : name)
    if (c == '/') c = '_';  // parameterized tests' names
  return testing::TempDir() + name + suffix + ".gguf";
}

struct TinySpec {
  std::string arch = "llama";
  int64_t layers = 2, d = 32, ffn = 48, heads = 4, kv_heads = 2, head_dim = 8, vocab = 64;
  bool qkv_bias = false, qk_norm = false, post_norms = false;
  float bias_scale = 0.2f;
  int64_t sliding_window = 0;
  std::vector<std::string> skip;  // tensors to leave out
};

// Writes a random F32 model; returns its path.
std::string write_tiny(const TinySpec& s, const std::string& path) {
  gguf::Writer w;
  const std::string p = s.arch + ".";
  w.set_string("general.architecture", s.arch);
  w.set_uint32(p + "block_count", (uint32_t)s.layers);
  w.set_uint32(p + "context_length", 128);
  w.set_uint32(p + "embedding_length", (uint32_t)s.d);
  w.set_uint32(p + "feed_forward_length", (uint32_t)s.ffn);
  w.set_uint32(p + "attention.head_count", (uint32_t)s.heads);
  w.set_uint32(p + "attention.head_count_kv", (uint32_t)s.kv_heads);
  w.set_uint32(p + "attention.key_length", (uint32_t)s.head_dim);
  w.set_float32(p + "attention.layer_norm_rms_epsilon", 1e-6f);
  if (s.sliding_window) w.set_uint32(p + "attention.sliding_window", (uint32_t)s.sliding_window);

  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> storage;  // keeps tensor data alive until write()
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float mean) {
    for (const std::string& skip : s.skip)
      if (skip == name) return;
    int64_t n = 1;
    for (int64_t dim : shape) n *= dim;
    auto& data = storage.emplace_back(n);
    for (float& x : data) x = mean + scale * normal(rng);
    ASSERT_TRUE(w.add_tensor(name, DType::F32, shape, data.data()).ok()) << name;
  };
  const int64_t q_dim = s.heads * s.head_dim, kv_dim = s.kv_heads * s.head_dim;
  add("token_embd.weight", {s.d, s.vocab}, 0.5f, 0.0f);
  for (int64_t i = 0; i < s.layers; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add(b + "attn_norm.weight", {s.d}, 0.1f, 1.0f);
    add(b + "attn_q.weight", {s.d, q_dim}, 0.2f, 0.0f);
    add(b + "attn_k.weight", {s.d, kv_dim}, 0.2f, 0.0f);
    add(b + "attn_v.weight", {s.d, kv_dim}, 0.2f, 0.0f);
    if (s.qkv_bias) {
      add(b + "attn_q.bias", {q_dim}, s.bias_scale, 0.0f);
      add(b + "attn_k.bias", {kv_dim}, s.bias_scale, 0.0f);
      add(b + "attn_v.bias", {kv_dim}, s.bias_scale, 0.0f);
    }
    if (s.qk_norm) {
      add(b + "attn_q_norm.weight", {s.head_dim}, 0.1f, 1.0f);
      add(b + "attn_k_norm.weight", {s.head_dim}, 0.1f, 1.0f);
    }
    add(b + "attn_output.weight", {q_dim, s.d}, 0.2f, 0.0f);
    add(b + "ffn_norm.weight", {s.d}, 0.1f, 1.0f);
    add(b + "ffn_gate.weight", {s.d, s.ffn}, 0.2f, 0.0f);
    add(b + "ffn_up.weight", {s.d, s.ffn}, 0.2f, 0.0f);
    add(b + "ffn_down.weight", {s.ffn, s.d}, 0.15f, 0.0f);
    if (s.post_norms) {
      add(b + "post_attention_norm.weight", {s.d}, 0.1f, 1.0f);
      add(b + "post_ffw_norm.weight", {s.d}, 0.1f, 1.0f);
    }
  }
  add("output_norm.weight", {s.d}, 0.1f, 1.0f);
  std::remove(path.c_str());
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

TinySpec gemma3_spec() {
  TinySpec s;
  s.arch = "gemma3";
  s.layers = 7;  // layers 0-4 and 6 local, 5 global
  s.heads = 2;
  s.kv_heads = 1;
  s.head_dim = 24;
  s.qk_norm = s.post_norms = true;
  s.sliding_window = 5;
  return s;
}

struct Loaded {
  std::unique_ptr<gguf::File> file;
  std::unique_ptr<Model> model;
};

StatusOr<Loaded> load(const std::string& path, ThreadPool& pool, int64_t max_batch = 64) {
  auto file = gguf::File::open(path);
  if (!file.ok()) return file.status();
  Loaded l;
  l.file = std::make_unique<gguf::File>(std::move(file).value());
  ModelOptions options;
  options.max_batch_tokens = max_batch;
  auto model = Model::load(*l.file, pool, options);
  if (!model.ok()) return model.status();
  l.model = std::move(model).value();
  return l;
}

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
std::vector<float> run_chunked(Model& model, const std::vector<int32_t>& ids, size_t chunk) {
  Session session(model, (int64_t)ids.size());
  std::vector<float> all;
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t n = std::min(chunk, ids.size() - start);
    EXPECT_TRUE(session.append(std::span<const int32_t>(ids).subspan(start, n), true).ok());
    all.insert(all.end(), session.logits().begin(), session.logits().end());
  }
  return all;
}

class DecoderChunkingTest : public testing::TestWithParam<std::string> {};

TEST_P(DecoderChunkingTest, OnePassEqualsTokenByTokenAndSmallBatches) {
  TinySpec s = GetParam() == "gemma3" ? gemma3_spec() : TinySpec{};
  s.arch = GetParam();
  s.qkv_bias = s.arch == "qwen2";
  s.qk_norm = s.qk_norm || s.arch == "qwen3";
  if (s.arch == "qwen3") s.head_dim = 12;  // q is 48 wide, d_model 32
  const std::string path = write_tiny(s, temp_path("_" + s.arch));
  ThreadPool pool(2);
  auto l = load(path, pool);
  ASSERT_TRUE(l.ok()) << l.message();
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % (int)s.vocab);
  const std::vector<float> whole = run_chunked(*l->model, ids, ids.size());
  for (size_t chunk : {1, 3, 16}) {
    const std::vector<float> got = run_chunked(*l->model, ids, chunk);
    ASSERT_EQ(got.size(), whole.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(got[i]));
      ASSERT_NEAR(got[i], whole[i], 1e-4f * (1.0f + std::abs(whole[i])))
          << s.arch << " chunk " << chunk << " row " << i / s.vocab;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, DecoderChunkingTest,
                         testing::Values("llama", "qwen2", "qwen3", "gemma3"));

}  // namespace
}  // namespace kiln
