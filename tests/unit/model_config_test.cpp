// ModelConfig::from_gguf's validation of what the loaders trust: values no file could back
// (found by fuzz/gguf_model_fuzz: a block_count of 2^32 made the Gemma 3 loader ask for
// 68 GB before it looked for a single tensor) fail with a message naming the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "gguf/reader.h"
#include "gguf/writer.h"
#include "model/model.h"
#include "model/model_config.h"
#include "util/thread_pool.h"

namespace kiln {
namespace {

// A llama header with two small tensors; `edit` changes metadata before writing.
std::string write_header(const std::string& name, const std::function<void(gguf::Writer&)>& edit) {
  gguf::Writer w;
  w.set_string("general.architecture", "llama");
  w.set_uint32("llama.block_count", 1);
  w.set_uint32("llama.context_length", 64);
  w.set_uint32("llama.embedding_length", 8);
  w.set_uint32("llama.feed_forward_length", 8);
  w.set_uint32("llama.attention.head_count", 2);
  w.set_uint32("llama.attention.head_count_kv", 1);
  edit(w);
  static const std::vector<float> data(8, 1.0f);
  EXPECT_TRUE(w.add_tensor("blk.0.attn_norm.weight", DType::F32, {8}, data.data()).ok());
  EXPECT_TRUE(w.add_tensor("output_norm.weight", DType::F32, {8}, data.data()).ok());
  const std::string path = testing::TempDir() + "kiln_model_config_" + name + ".gguf";
  std::remove(path.c_str());
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

std::string config_error(const std::string& name, const std::function<void(gguf::Writer&)>& edit) {
  auto file = gguf::File::open(write_header(name, edit));
  EXPECT_TRUE(file.ok()) << file.message();
  auto config = ModelConfig::from_gguf(file.value());
  return config.ok() ? "" : config.message();
}

TEST(ModelConfig, AcceptsTheValidHeader) {
  EXPECT_EQ(config_error("valid", [](gguf::Writer&) {}), "");
}

TEST(ModelConfig, RejectsMoreLayersThanTheFileHasTensors) {
  const std::string error =
      config_error("layers", [](gguf::Writer& w) { w.set_uint32("llama.block_count", 1u << 31); });
  EXPECT_NE(error.find("llama.block_count 2147483648 exceeds the file's 2 tensors"),
            std::string::npos)
      << error;
  // And loading fails with it instead of allocating per-layer state first.
  auto file = gguf::File::open(write_header("layers_load", [](gguf::Writer& w) {
    w.set_string("general.architecture", "gemma3");
    for (const char* key : {"block_count", "context_length", "embedding_length",
                            "feed_forward_length", "attention.head_count"})
      w.set_uint32(std::string("gemma3.") + key, 8);
    w.set_uint32("gemma3.block_count", 1u << 31);
  }));
  ASSERT_TRUE(file.ok()) << file.message();
  ThreadPool pool(1);
  auto model = Model::load(file.value(), pool, ModelOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.message().find("block_count"), std::string::npos) << model.message();
}

TEST(ModelConfig, RejectsDimensionsLargerThanAnyModel) {
  const std::string error = config_error("dims", [](gguf::Writer& w) {
    w.set_uint64("llama.embedding_length", uint64_t{1} << 40);
  });
  EXPECT_NE(error.find("llama.embedding_length 1099511627776 is larger than any model's"),
            std::string::npos)
      << error;
}

TEST(ModelConfig, RejectsANonPositiveRopeDimensionAndContext) {
  EXPECT_NE(config_error("rope", [](gguf::Writer& w) {
              w.set_int32("llama.rope.dimension_count", -2);
            }).find("invalid head dimension 4 / rope dimension -2"),
            std::string::npos);
  EXPECT_NE(config_error("context", [](gguf::Writer& w) {
              w.set_int32("llama.context_length", 0);
            }).find("llama.context_length must be positive"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln
