// The decoder-only transformer every supported architecture shares: token embedding, layers
// of normed grouped-query attention with RoPE and a gated FFN, each added to the residual
// stream, a final RMSNorm and an output projection (tied to the embedding when the file has
// no output.weight). An architecture file (llama.cpp, qwen2.cpp, qwen3.cpp, gemma3.cpp)
// describes its differences in a DecoderSpec and its RoPE layout in the ModelConfig.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gguf/reader.h"
#include "model/model.h"
#include "util/status.h"
#include "util/thread_pool.h"

namespace kiln {

// Whether an optional tensor family must be, may be, or is never in the file.
enum class Presence { kNever, kOptional, kRequired };

enum class FfnActivation {
  kSilu,      // SwiGLU: silu(gate) * up
  kGeluTanh,  // GeGLU: gelu(gate) * up with the tanh approximation
};

// One set of RoPE angles: every layer uses one of a spec's (usually just one).
struct RopeSpec {
  float freq_base = 10000.0f;
  float pos_scale = 1.0f;  // linear scaling: positions are multiplied by this
};

struct DecoderLayerSpec {
  int32_t rope = 0;    // index into DecoderSpec::ropes
  int64_t window = 0;  // sliding window: a query at p sees keys p-window+1..p; 0 = all
};

struct DecoderSpec {
  // blk.N.attn_{q,k,v}.bias, added to the projections.
  Presence qkv_bias = Presence::kNever;
  // blk.N.attn_{q,k}_norm.weight: an RMSNorm over each q and k head (head_dim floats)
  // before RoPE.
  bool qk_norm = false;
  // blk.N.post_attention_norm / post_ffw_norm: RMSNorm on each branch's output before it is
  // added to the residual (Gemma's "sandwich" norms).
  bool post_norms = false;
  FfnActivation ffn_activation = FfnActivation::kSilu;
  float embedding_scale = 1.0f;      // token embeddings are multiplied by this
  float attention_scale = 0.0f;      // softmax(q.k * scale); 0 means 1/sqrt(head_dim)
  float final_logit_softcap = 0.0f;  // logits = cap * tanh(logits / cap); 0 = off
  // Distinct RoPE settings and each layer's choice of one and attention window. Empty
  // ropes: one from the config (rope_freq_base, rope_freq_scale); empty layers: every
  // layer uses ropes[0] with full attention.
  std::vector<RopeSpec> ropes;
  std::vector<DecoderLayerSpec> layers;
};

// Builds the shared decoder for `file` (which must outlive the model) and checks every
// tensor the spec asks for; errors name the file and the tensor.
StatusOr<std::unique_ptr<Model>> load_decoder(const gguf::File& file, ModelConfig config,
                                              DecoderSpec spec, ThreadPool& pool,
                                              const ModelOptions& options);

}  // namespace kiln
