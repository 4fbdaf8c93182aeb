// The Llama architecture (Llama 2/3.x, SmolLM2, TinyLlama, Mistral-style files): pre-norm
// decoder layers of RMSNorm -> grouped-query attention with RoPE -> residual, RMSNorm ->
// SwiGLU FFN -> residual; final RMSNorm and an output projection that may be tied to the
// token embedding. The shared decoder (decoder.h) runs it as described here.
#include "model/decoder.h"
#include "model/model.h"

namespace kiln {

StatusOr<std::unique_ptr<Model>> load_llama(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options) {
  // llama.cpp's converter permutes Llama q/k rows so that RoPE rotates adjacent pairs.
  config.rope_layout = RopeLayout::kAdjacent;
  DecoderSpec spec;
  // NOTE: some Llama-architecture files carry q/k/v biases; llama.cpp uses them when present.
  spec.qkv_bias = Presence::kOptional;
  return load_decoder(file, std::move(config), std::move(spec), pool, options);
}

}  // namespace kiln
