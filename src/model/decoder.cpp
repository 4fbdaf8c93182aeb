#include "model/decoder.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "model/weights.h"
#include "tensor/quants.h"

namespace kiln {
namespace {

struct DecoderLayer {
  const float* attn_norm = nullptr;
  cpu::WeightMatrix wq, wk, wv, wo;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;  // null: no bias
  const float *q_norm = nullptr, *k_norm = nullptr;         // per head, head_dim floats
  const float* post_attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  cpu::WeightMatrix w_gate, w_up, w_down;
  const float* post_ffn_norm = nullptr;
};

class DecoderModel final : public Model {
 public:
  DecoderModel(ModelConfig config, DecoderSpec spec, ModelOptions options, ThreadPool& pool,
               WeightLoader loader)
      : Model(std::move(config), options, pool),
        spec_(std::move(spec)),
        loader_(std::move(loader)) {}

  Status load_weights(const gguf::File& file);
  Status forward(const ForwardBatch& batch, KvStorage& kv, float* logits) override;

 private:
  Status load_layer(int64_t il, DecoderLayer& l);
  void embed(std::span<const int32_t> ids, float* out) const;

  DecoderSpec spec_;
  WeightLoader loader_;
  const gguf::TensorInfo* token_embd_ = nullptr;
  std::vector<DecoderLayer> layers_;
  const float* output_norm_ = nullptr;
  cpu::WeightMatrix output_;
  std::vector<std::vector<float>> inv_freq_;  // per spec_.ropes entry

  // Activations for up to max_batch_tokens tokens, sized once.
  std::vector<std::vector<float>> rope_cos_sin_;  // per spec_.ropes entry
  std::vector<float> x_, xn_, q_, k_, v_, attn_, ffn_gate_, ffn_up_;
  std::vector<cpu::AttentionSequence> attn_sequences_;  // max_batch_tokens entries
  cpu::MatmulScratch matmul_scratch_;
  cpu::AttentionScratch attention_scratch_;
};

Status DecoderModel::load_layer(int64_t il, DecoderLayer& l) {
  const ModelConfig& c = config_;
  const int64_t d = c.embedding_dim, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  const std::string p = "blk." + std::to_string(il) + ".";
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
  auto bias = [&](const char* n, int64_t len, const float*& out) -> Status {
    if (spec_.qkv_bias == Presence::kNever ||
        (spec_.qkv_bias == Presence::kOptional && !loader_.has(p + n)))
      return Status::Ok();
    return vec(n, len, out);
  };
  KILN_RETURN_IF_ERROR(vec("attn_norm.weight", d, l.attn_norm));
  KILN_RETURN_IF_ERROR(mat("attn_q.weight", q_dim, d, l.wq));
  KILN_RETURN_IF_ERROR(mat("attn_k.weight", kv_dim, d, l.wk));
  KILN_RETURN_IF_ERROR(mat("attn_v.weight", kv_dim, d, l.wv));
  KILN_RETURN_IF_ERROR(bias("attn_q.bias", q_dim, l.bq));
  KILN_RETURN_IF_ERROR(bias("attn_k.bias", kv_dim, l.bk));
  KILN_RETURN_IF_ERROR(bias("attn_v.bias", kv_dim, l.bv));
  if (spec_.qk_norm) {
    KILN_RETURN_IF_ERROR(vec("attn_q_norm.weight", c.head_dim, l.q_norm));
    KILN_RETURN_IF_ERROR(vec("attn_k_norm.weight", c.head_dim, l.k_norm));
  }
  KILN_RETURN_IF_ERROR(mat("attn_output.weight", d, q_dim, l.wo));
  KILN_RETURN_IF_ERROR(vec("ffn_norm.weight", d, l.ffn_norm));
  KILN_RETURN_IF_ERROR(mat("ffn_gate.weight", c.ffn_dim, d, l.w_gate));
  KILN_RETURN_IF_ERROR(mat("ffn_up.weight", c.ffn_dim, d, l.w_up));
  KILN_RETURN_IF_ERROR(mat("ffn_down.weight", d, c.ffn_dim, l.w_down));
  if (spec_.post_norms) {
    KILN_RETURN_IF_ERROR(vec("post_attention_norm.weight", d, l.post_attn_norm));
    KILN_RETURN_IF_ERROR(vec("post_ffw_norm.weight", d, l.post_ffn_norm));
  }
  return Status::Ok();
}

Status DecoderModel::load_weights(const gguf::File& file) {
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

  if (spec_.ropes.empty()) spec_.ropes.push_back({c.rope_freq_base, c.rope_freq_scale});
  if (spec_.layers.empty()) spec_.layers.resize(c.num_layers);
  KILN_CHECK((int64_t)spec_.layers.size() == c.num_layers);
  for (const DecoderLayerSpec& ls : spec_.layers)
    KILN_CHECK(ls.rope >= 0 && ls.rope < (int32_t)spec_.ropes.size() && ls.window >= 0);
  if (spec_.attention_scale == 0.0f) spec_.attention_scale = 1.0f / std::sqrt((float)c.head_dim);

  layers_.resize(c.num_layers);
  for (int64_t il = 0; il < c.num_layers; ++il) KILN_RETURN_IF_ERROR(load_layer(il, layers_[il]));
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
  const float* factors = nullptr;
  if (loader_.has("rope_freqs.weight")) {
    auto f = loader_.vector("rope_freqs.weight", half);
    if (!f.ok()) return f.status();
    factors = *f;
  }
  const int64_t n = options_.max_batch_tokens;
  for (const RopeSpec& rope : spec_.ropes) {
    std::vector<float>& inv_freq = inv_freq_.emplace_back(half);
    for (int64_t i = 0; i < half; ++i) {
      inv_freq[i] = (float)std::pow((double)rope.freq_base, -2.0 * (double)i / (double)c.rope_dim);
      if (factors) inv_freq[i] /= factors[i];
    }
    rope_cos_sin_.emplace_back(n * c.rope_dim);
  }

  x_.resize(n * d);
  xn_.resize(n * d);
  q_.resize(n * q_dim);
  k_.resize(n * kv_dim);
  v_.resize(n * kv_dim);
  attn_.resize(n * q_dim);
  ffn_gate_.resize(n * c.ffn_dim);
  ffn_up_.resize(n * c.ffn_dim);
  attn_sequences_.resize(n);  // every sequence has at least one token
  return Status::Ok();
}

void DecoderModel::embed(std::span<const int32_t> ids, float* out) const {
  const int64_t d = config_.embedding_dim;
  const int64_t row_bytes = dtype_row_bytes(token_embd_->type, d);
  const QuantOps* ops = quant_ops(token_embd_->type);
  for (size_t t = 0; t < ids.size(); ++t)
    ops->dequantize(token_embd_->data + (int64_t)ids[t] * row_bytes, out + t * d, d);
  if (spec_.embedding_scale != 1.0f)
    cpu::scale_inplace(out, spec_.embedding_scale, (int64_t)ids.size() * d);
}

Status DecoderModel::forward(const ForwardBatch& batch, KvStorage& kv, float* logits) {
  KILN_RETURN_IF_ERROR(validate(batch, kv));
  const ModelConfig& c = config_;
  const int64_t n = (int64_t)batch.token_ids.size();
  const int64_t d = c.embedding_dim, q_dim = c.num_heads * c.head_dim,
                kv_dim = c.num_kv_heads * c.head_dim;
  const bool adjacent = c.rope_layout == RopeLayout::kAdjacent;
  const float eps = c.rms_norm_eps;
  const int64_t num_sequences = (int64_t)batch.sequences.size();
  for (int64_t i = 0; i < num_sequences; ++i) {
    const SequenceSlice& seq = batch.sequences[i];
    attn_sequences_[i] = {seq.first_token, seq.num_tokens, seq.block_table.data()};
  }

  // The row-wise steps between the matmuls run as the next matmul's prologue, on its
  // threads, one row at a time (so a row's bits do not depend on the ranges the batch is cut
  // into). The residual add of a layer's FFN is done by the next layer's first prologue.
  // x_ += xn_ (the block's output, normed first where the model norms it), for rows [t0, t1).
  auto add_residual = [&](const float* post_norm, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* y = xn_.data() + t * d;
      if (post_norm) cpu::rms_norm(y, post_norm, y, 1, d, eps);
      cpu::add_inplace(x_.data() + t * d, y, d);
    }
  };
  embed(batch.token_ids, x_.data());
  for (size_t r = 0; r < spec_.ropes.size(); ++r)
    cpu::rope_angles(batch.positions.data(), n, inv_freq_[r].data(), c.rope_dim,
                     spec_.ropes[r].pos_scale, rope_cos_sin_[r].data());
  for (int64_t il = 0; il < c.num_layers; ++il) {
    const DecoderLayer& l = layers_[il];
    const DecoderLayerSpec& ls = spec_.layers[il];
    const DecoderLayer* prev = il > 0 ? &layers_[il - 1] : nullptr;
    const auto attn_in = [&](int64_t t0, int64_t t1) {
      if (prev) add_residual(prev->post_ffn_norm, t0, t1);
      for (int64_t t = t0; t < t1; ++t)
        cpu::rms_norm(x_.data() + t * d, l.attn_norm, xn_.data() + t * d, 1, d, eps);
    };
    {
      const cpu::WeightMatrix ws[] = {l.wq, l.wk, l.wv};
      float* const ys[] = {q_.data(), k_.data(), v_.data()};
      cpu::matmul_same_input(ws, ys, xn_.data(), n, pool_, matmul_scratch_,
                             cpu::ActivationPrologue::of(attn_in));
    }
    if (l.bq) cpu::add_bias(q_.data(), l.bq, n, q_dim);
    if (l.bk) cpu::add_bias(k_.data(), l.bk, n, kv_dim);
    if (l.bv) cpu::add_bias(v_.data(), l.bv, n, kv_dim);
    if (l.q_norm) {
      // q and k rows are whole heads back to back: one norm row per head.
      cpu::rms_norm(q_.data(), l.q_norm, q_.data(), n * c.num_heads, c.head_dim, eps);
      cpu::rms_norm(k_.data(), l.k_norm, k_.data(), n * c.num_kv_heads, c.head_dim, eps);
    }
    const float* cos_sin = rope_cos_sin_[ls.rope].data();
    cpu::rope(q_.data(), n, q_dim, c.num_heads, c.head_dim, c.rope_dim, cos_sin, adjacent);
    cpu::rope(k_.data(), n, kv_dim, c.num_kv_heads, c.head_dim, c.rope_dim, cos_sin, adjacent);
    for (const SequenceSlice& seq : batch.sequences) {
      for (int64_t t = seq.first_token; t < seq.first_token + seq.num_tokens; ++t) {
        const int32_t pos = batch.positions[t];
        kv.write(il, seq.block_table[pos / kv.block_size()], pos % kv.block_size(),
                 k_.data() + t * kv_dim, v_.data() + t * kv_dim);
      }
    }
    cpu::AttentionArgs args;
    args.q = q_.data();
    args.q_stride = q_dim;
    args.out = attn_.data();
    args.out_stride = q_dim;
    args.positions = batch.positions.data();
    args.num_heads = c.num_heads;
    args.num_kv_heads = c.num_kv_heads;
    args.head_dim = c.head_dim;
    args.scale = spec_.attention_scale;
    args.window = ls.window;
    args.kv = kv.layer_view(il);
    args.sequences = attn_sequences_.data();
    args.num_sequences = num_sequences;
    cpu::attention(args, pool_, attention_scratch_);
    cpu::matmul(l.wo, attn_.data(), n, xn_.data(), pool_, matmul_scratch_);

    const auto ffn_in = [&](int64_t t0, int64_t t1) {
      add_residual(l.post_attn_norm, t0, t1);
      for (int64_t t = t0; t < t1; ++t)
        cpu::rms_norm(x_.data() + t * d, l.ffn_norm, xn_.data() + t * d, 1, d, eps);
    };
    {
      const cpu::WeightMatrix ws[] = {l.w_gate, l.w_up};
      float* const ys[] = {ffn_gate_.data(), ffn_up_.data()};
      cpu::matmul_same_input(ws, ys, xn_.data(), n, pool_, matmul_scratch_,
                             cpu::ActivationPrologue::of(ffn_in));
    }
    const auto activation = [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* gate = ffn_gate_.data() + t * c.ffn_dim;
        const float* up = ffn_up_.data() + t * c.ffn_dim;
        if (spec_.ffn_activation == FfnActivation::kSilu)
          cpu::silu_mul(gate, up, c.ffn_dim);
        else
          cpu::gelu_tanh_mul(gate, up, c.ffn_dim);
      }
    };
    cpu::matmul(l.w_down, ffn_gate_.data(), n, xn_.data(), pool_, matmul_scratch_,
                cpu::ActivationPrologue::of(activation));
  }
  add_residual(layers_.back().post_ffn_norm, 0, n);
  const int64_t rows = (int64_t)batch.logit_rows.size();
  if (rows == 0) return Status::Ok();
  const auto head_in = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      cpu::rms_norm(x_.data() + batch.logit_rows[i] * d, output_norm_, xn_.data() + i * d, 1, d,
                    eps);
  };
  cpu::matmul(output_, xn_.data(), rows, logits, pool_, matmul_scratch_,
              cpu::ActivationPrologue::of(head_in));
  if (spec_.final_logit_softcap > 0.0f)
    cpu::softcap(logits, spec_.final_logit_softcap, rows * c.vocab_size);
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<Model>> load_decoder(const gguf::File& file, ModelConfig config,
                                              DecoderSpec spec, ThreadPool& pool,
                                              const ModelOptions& options) {
  auto model = std::make_unique<DecoderModel>(std::move(config), std::move(spec), options, pool,
                                              WeightLoader(file, &pool));
  KILN_RETURN_IF_ERROR(model->load_weights(file));
  return std::unique_ptr<Model>(std::move(model));
}

}  // namespace kiln
