// The Gemma 3 architecture (text decoder): token embeddings scaled by sqrt(d_model);
// "sandwich" RMSNorms (attn_norm before and post_attention_norm after attention, ffn_norm
// and post_ffw_norm around the FFN); an RMSNorm over each q and k head before NeoX RoPE;
// GeGLU FFN with gelu-tanh; tied output. Local layers attend over a sliding window with
// RoPE base 10000; every sliding_window_pattern-th layer (6: layer i is global iff
// (i + 1) % 6 == 0) attends over everything with rope.freq_base and the file's RoPE scaling.
//
// NOTE: norm weights are used as stored. Gemma computes x * (1 + w), and llama.cpp's GGUF
// converter already stores 1 + w (tests/reference checks that adding 1 again is wrong).
#include <cmath>
#include <string>

#include "model/decoder.h"
#include "model/model.h"

namespace kiln {

StatusOr<std::unique_ptr<Model>> load_gemma3(const gguf::File& file, ModelConfig config,
                                             ThreadPool& pool, const ModelOptions& options) {
  const std::string p = config.arch + ".";
  if (file.find(p + "attn_logit_softcapping"))
    return Status::Error(file.path() + ": " + p +
                         "attn_logit_softcapping is set; attention soft-capping (Gemma 2) is "
                         "not supported");
  config.rope_layout = RopeLayout::kHalves;

  DecoderSpec spec;
  spec.qk_norm = true;
  spec.post_norms = true;
  spec.ffn_activation = FfnActivation::kGeluTanh;
  spec.embedding_scale = std::sqrt((float)config.embedding_dim);
  // query_pre_attn_scalar is head_dim for every Gemma 3 size except the 27B (62 layers),
  // where it is d_model / num_heads; GGUF has no key for it (llama.cpp decides the same way).
  spec.attention_scale = 1.0f / std::sqrt(config.num_layers == 62 ? (float)config.embedding_dim /
                                                                        (float)config.num_heads
                                                                  : (float)config.head_dim);
  spec.final_logit_softcap = (float)file.get_float(p + "final_logit_softcapping").value_or(0.0);

  const int64_t window = file.get_int(p + "attention.sliding_window").value_or(0);
  if (window < 0) return Status::Error(file.path() + ": " + p + "attention.sliding_window < 0");
  const float local_base = (float)file.get_float(p + "rope.freq_base_swa").value_or(10000.0);
  spec.ropes = {{config.rope_freq_base, config.rope_freq_scale}, {local_base, 1.0f}};
  // Which layers are local: every layer but each pattern-th, or a per-layer bool array.
  const gguf::Value* pattern = file.find(p + "attention.sliding_window_pattern");
  int64_t period = 6;
  if (pattern && !pattern->is_array()) {
    period = pattern->as_int().value_or(0);
    if (period <= 0)
      return Status::Error(file.path() + ": " + p +
                           "attention.sliding_window_pattern must be a positive integer or a "
                           "bool per layer");
  } else if (pattern && (pattern->elem_type != gguf::ValueType::BOOL ||
                         (int64_t)pattern->count != config.num_layers)) {
    return Status::Error(file.path() + ": " + p +
                         "attention.sliding_window_pattern must have one bool per layer");
  }
  spec.layers.resize(config.num_layers);
  for (int64_t i = 0; i < config.num_layers; ++i) {
    const bool local =
        pattern && pattern->is_array() ? pattern->raw[i] != 0 : (i + 1) % period != 0;
    if (local && window > 0) spec.layers[i] = {1, window};
  }
  return load_decoder(file, std::move(config), std::move(spec), pool, options);
}

}  // namespace kiln
