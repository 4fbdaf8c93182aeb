// The Qwen3 (dense) architecture: the Llama layer with an RMSNorm over every q and k head
// (attn_q_norm / attn_k_norm, head_dim weights) before RoPE, NeoX RoPE, no q/k/v biases.
// head_dim comes from qwen3.attention.key_length and need not be d_model / num_heads
// (Qwen3-0.6B: 1024 / 16 heads, head_dim 128), which ModelConfig already reads.
#include "model/decoder.h"
#include "model/model.h"

namespace kiln {

StatusOr<std::unique_ptr<Model>> load_qwen3(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options) {
  config.rope_layout = RopeLayout::kHalves;
  DecoderSpec spec;
  spec.qk_norm = true;
  return load_decoder(file, std::move(config), std::move(spec), pool, options);
}

}  // namespace kiln
