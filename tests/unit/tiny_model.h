// Tiny random F32 models written as GGUF files, shared by the model tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "gguf/writer.h"
#include "model/model.h"
#include "util/thread_pool.h"

namespace kiln::testing_tiny {

inline std::string temp_path(const std::string& suffix) {
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
inline std::string write_tiny(const TinySpec& s, const std::string& path) {
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

inline TinySpec gemma3_spec() {
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

inline StatusOr<Loaded> load(const std::string& path, ThreadPool& pool, int64_t max_batch = 64) {
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

}  // namespace kiln::testing_tiny
