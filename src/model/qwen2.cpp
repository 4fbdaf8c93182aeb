// The Qwen2 architecture (Qwen2, Qwen2.5, Qwen2.5-Coder): the Llama layer with biases on
// the q/k/v projections and NeoX RoPE (Qwen's q/k rows are stored unpermuted, so RoPE
// rotates dimension i with i + rope_dim/2); SwiGLU FFN; tied or untied output.
#include "model/decoder.h"
#include "model/model.h"

namespace kiln {

StatusOr<std::unique_ptr<Model>> load_qwen2(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options) {
  config.rope_layout = RopeLayout::kHalves;
  DecoderSpec spec;
  spec.qkv_bias = Presence::kRequired;
  return load_decoder(file, std::move(config), std::move(spec), pool, options);
}

}  // namespace kiln
