// The Llama architecture (Llama 2/3.x, SmolLM2, TinyLlama, Mistral-style files):
// pre-norm decoder layers of RMSNorm -> grouped-query attention with RoPE -> residual,
// RMSNorm -> SwiGLU FFN -> residual; final RMSNorm and an output projection that may be
// tied to the token embedding.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/model.h"
#include "model/weights.h"
#include "tensor/quants.h"

namespace kiln {
namespace {

struct LlamaLayer {
  const float* attn_norm;
  cpu::WeightMatrix wq, wk, wv, wo;
  const float* ffn_norm;
  cpu::WeightMatrix w_gate, w_up, w_down;
};

class LlamaModel final : public Model {
 public:
  LlamaModel(ModelConfig config, ModelOptions options, ThreadPool& pool, WeightLoader loader)
      : Model(std::move(config), options, pool), loader_(std::move(loader)) {}

  Status load_weights(const gguf::File& file);
  Status forward(const ForwardBatch& batch, KvStorage& kv, float* logits) override;

 private:
  void embed(std::span<const int32_t> ids, float* out) const;

  WeightLoader loader_;
  const gguf::TensorInfo* token_embd_ = nullptr;
  std::vector<LlamaLayer> layers_;
  const float* output_norm_ = nullptr;
  cpu::WeightMatrix output_;
  std::vector<float> inv_freq_;

  // Activations for up to max_batch_tokens tokens, sized once.
  std::vector<float> rope_cos_sin_, x_, xn_, q_, k_, v_, attn_, ffn_gate_, ffn_up_;
  cpu::MatmulScratch matmul_scratch_;
  cpu::AttentionScratch attention_scratch_;
};

Status LlamaModel::load_weights(const gguf::File& file) {
  const ModelConfig& c = config_;
  const int64_t d = c.embedding_dim, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  token_embd_ = file.find_tensor("token_embd.weight");
  if (!token_embd_) return Status::Error(file.path() + ": missing tensor 'token_embd.weight'");
  if (config_.vocab_size == 0 && token_embd_->shape.size() == 2)
    config_.vocab_size = token_embd_->shape[1];
  if (token_embd_->shape.size() != 2 || token_embd_->shape[0] != d ||
      token_embd_->shape[1] != c.vocab_size || !quant_ops(token_embd_->type))
    return Status::Error(file.path() + ": token_embd.weight has an unexpected shape or type");
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LlamaLayer l{};
    auto vec = [&](const char* n, int64_t len, const float*& out) -> Status {
      auto r = loader_.vector(p + n, len);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    };
    auto mat = [&](const char* n, int64_t rows, int64_t cols, cpu::WeightMatrix& out) -> Status {
      auto r = loader_.matrix(p + n, rows, cols);
      if (!r.ok()) return r.status();
      out = *r;
      return Status::Ok();
    };
    KILN_RETURN_IF_ERROR(vec("attn_norm.weight", d, l.attn_norm));
    KILN_RETURN_IF_ERROR(mat("attn_q.weight", q_dim, d, l.wq));
    KILN_RETURN_IF_ERROR(mat("attn_k.weight", kv_dim, d, l.wk));
    KILN_RETURN_IF_ERROR(mat("attn_v.weight", kv_dim, d, l.wv));
    KILN_RETURN_IF_ERROR(mat("attn_output.weight", d, q_dim, l.wo));
    KILN_RETURN_IF_ERROR(vec("ffn_norm.weight", d, l.ffn_norm));
    KILN_RETURN_IF_ERROR(mat("ffn_gate.weight", c.ffn_dim, d, l.w_gate));
    KILN_RETURN_IF_ERROR(mat("ffn_up.weight", c.ffn_dim, d, l.w_up));
    KILN_RETURN_IF_ERROR(mat("ffn_down.weight", d, c.ffn_dim, l.w_down));
    layers_.push_back(l);
  }
  auto norm = loader_.vector("output_norm.weight", d);
  if (!norm.ok()) return norm.status();
  output_norm_ = *norm;
  // Tied embeddings: no output.weight, the token embedding doubles as the projection.
  auto out = loader_.matrix(loader_.has("output.weight") ? "output.weight" : "token_embd.weight",
                            c.vocab_size, d);
  if (!out.ok()) return out.status();
  output_ = *out;

  // RoPE frequencies; Llama 3 files carry per-frequency divisors in rope_freqs.weight.
  const int64_t half = c.rope_dim / 2;
  inv_freq_.resize(half);
  for (int64_t i = 0; i < half; ++i)
    inv_freq_[i] = (float)std::pow((double)c.rope_freq_base, -2.0 * (double)i / (double)c.rope_dim);
  if (loader_.has("rope_freqs.weight")) {
    auto factors = loader_.vector("rope_freqs.weight", half);
    if (!factors.ok()) return factors.status();
    for (int64_t i = 0; i < half; ++i) inv_freq_[i] /= (*factors)[i];
  }

  const int64_t n = options_.max_batch_tokens;
  rope_cos_sin_.resize(n * c.rope_dim);
  x_.resize(n * d);
  xn_.resize(n * d);
  q_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  attn_.resize(n * q_dim);
  ffn_gate_.resize(n * c.ffn_dim);
  ffn_up_.resize(n * c.ffn_dim);
  return Status::Ok();
}

void LlamaModel::embed(std::span<const int32_t> ids, float* out) const {
  const int64_t d = config_.embedding_dim;
  const int64_t row_bytes = dtype_row_bytes(token_embd_->type, d);
  const QuantOps* ops = quant_ops(token_embd_->type);
  for (size_t t = 0; t < ids.size(); ++t)
    ops->dequantize(token_embd_->data + (int64_t)ids[t] * row_bytes, out + t * d, d);
}

Status LlamaModel::forward(const ForwardBatch& batch, KvStorage& kv, float* logits) {
  KILN_RETURN_IF_ERROR(validate(batch, kv));
  const ModelConfig& c = config_;
  const int64_t n = (int64_t)batch.token_ids.size();
  const int64_t d = c.embedding_dim, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  const bool adjacent = c.rope_layout == RopeLayout::kAdjacent;
  auto matmul = [&](const cpu::WeightMatrix& w, const float* in, int64_t rows, float* out) {
    cpu::matmul(w, in, rows, out, pool_, matmul_scratch_);
  };

  embed(batch.token_ids, x_.data());
  cpu::rope_angles(batch.positions.data(), n, inv_freq_.data(), c.rope_dim, c.rope_freq_scale,
                   rope_cos_sin_.data());
  for (int64_t il = 0; il < c.num_layers; ++il) {
    const LlamaLayer& l = layers_[il];
    cpu::rms_norm(x_.data(), l.attn_norm, xn_.data(), n, d, c.rms_norm_eps);
    matmul(l.wq, xn_.data(), n, q_.data());
    matmul(l.wk, xn_.data(), n, k_.data());
    matmul(l.wv, xn_.data(), n, v_.data());
    cpu::rope(q_.data(), n, q_dim, c.num_heads, c.head_dim, c.rope_dim, rope_cos_sin_.data(),
              adjacent);
    cpu::rope(k_.data(), n, kv_dim, c.num_kv_heads, c.head_dim, c.rope_dim,
              rope_cos_sin_.data(), adjacent);
    for (int64_t t = 0; t < n; ++t) {
      const int32_t pos = batch.positions[t];
      const int32_t block = batch.block_table[pos / kv.block_size()];
      const int64_t offset = pos % kv.block_size();
      std::memcpy(kv.k_row(il, block, offset), k_.data() + t * kv_dim, kv_dim * sizeof(float));
      std::memcpy(kv.v_row(il, block, offset), v_.data() + t * kv_dim, kv_dim * sizeof(float));
    }
    cpu::AttentionArgs args;
    args.q = q_.data();
    args.q_stride = q_dim;
    args.out = attn_.data();
    args.out_stride = q_dim;
    args.positions = batch.positions.data();
    args.num_tokens = n;
    args.num_heads = c.num_heads;
    args.num_kv_heads = c.num_kv_heads;
    args.head_dim = c.head_dim;
    args.scale = 1.0f / std::sqrt((float)c.head_dim);
    args.kv = kv.layer_view(il);
    args.block_table = batch.block_table.data();
    cpu::attention(args, pool_, attention_scratch_);
    matmul(l.wo, attn_.data(), n, xn_.data());
    cpu::add_inplace(x_.data(), xn_.data(), n * d);

    cpu::rms_norm(x_.data(), l.ffn_norm, xn_.data(), n, d, c.rms_norm_eps);
    matmul(l.w_gate, xn_.data(), n, ffn_gate_.data());
    matmul(l.w_up, xn_.data(), n, ffn_up_.data());
    cpu::silu_mul(ffn_gate_.data(), ffn_up_.data(), n * c.ffn_dim);
    matmul(l.w_down, ffn_gate_.data(), n, xn_.data());
    cpu::add_inplace(x_.data(), xn_.data(), n * d);
  }
  const int64_t first = batch.all_logits ? 0 : n - 1;
  const int64_t rows = n - first;
  cpu::rms_norm(x_.data() + first * d, output_norm_, xn_.data(), rows, d, c.rms_norm_eps);
  matmul(output_, xn_.data(), rows, logits);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> load_llama(const gguf::File& file, ModelConfig config,
                                            ThreadPool& pool, const ModelOptions& options) {
  config.rope_layout = RopeLayout::kAdjacent;
  auto model = std::make_unique<LlamaModel>(std::move(config), options, pool, WeightLoader(file));
  KILN_RETURN_IF_ERROR(model->load_weights(file));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kiln
