// Hyper-parameters of a decoder-only transformer, read from GGUF metadata (`<arch>.*`).
#pragma once

#include <cstdint>
#include <string>

#include "gguf/reader.h"
#include "util/status.h"

namespace kiln {

// How RoPE pairs the dimensions of a head: kAdjacent rotates (x[2i], x[2i+1]) — the
// layout llama.cpp's converter gives Llama-family q/k weights; kHalves rotates
// (x[i], x[i + d/2]) — GPT-NeoX style, used by Qwen and Gemma files.
enum class RopeLayout { kAdjacent, kHalves };

struct ModelConfig {
  std::string arch;
  std::string name;
  int64_t num_layers = 0;
  int64_t embedding_dim = 0;   // d_model
  int64_t ffn_dim = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;        // per-head dimension of q and k (and v)
  int64_t context_length = 0;  // trained context
  int64_t vocab_size = 0;
  float rms_norm_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  int64_t rope_dim = 0;        // dimensions rotated per head (<= head_dim)
  float rope_freq_scale = 1.0f;  // linear scaling: positions are multiplied by this
  RopeLayout rope_layout = RopeLayout::kAdjacent;

  // Reads `<arch>.*` keys; errors name the file and the missing or invalid key.
  static StatusOr<ModelConfig> from_gguf(const gguf::File& file);
  std::string describe() const;
};

}  // namespace kiln
