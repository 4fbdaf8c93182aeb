#include "model/model_config.h"

#include <sstream>
#include <utility>

namespace kiln {

StatusOr<ModelConfig> ModelConfig::from_gguf(const gguf::File& file) {
  ModelConfig c;
  auto arch = file.require_string("general.architecture");
  if (!arch.ok()) return arch.status();
  c.arch = std::string(*arch);
  c.name = std::string(file.get_string("general.name").value_or(""));
  const std::string p = c.arch + ".";
  auto need = [&](const char* key, int64_t& out) -> Status {
    auto v = file.require_int(p + key);
    if (!v.ok()) return v.status();
    if (*v <= 0) return Status::Error(file.path() + ": " + p + key + " must be positive");
    out = *v;
    return Status::Ok();
  };
  KILN_RETURN_IF_ERROR(need("block_count", c.num_layers));
  KILN_RETURN_IF_ERROR(need("embedding_length", c.embedding_dim));
  KILN_RETURN_IF_ERROR(need("feed_forward_length", c.ffn_dim));
  KILN_RETURN_IF_ERROR(need("attention.head_count", c.num_heads));
  c.num_kv_heads = file.get_int(p + "attention.head_count_kv").value_or(c.num_heads);
  c.head_dim = file.get_int(p + "attention.key_length").value_or(c.embedding_dim / c.num_heads);
  // NOTE: K and V rows share one width in the KV storage and the attention kernel.
  if (auto v = file.get_int(p + "attention.value_length"); v && *v != c.head_dim)
    return Status::Error(file.path() + ": " + p + "attention.value_length " + std::to_string(*v) +
                         " differs from key_length " + std::to_string(c.head_dim) +
                         ", which kiln does not support");
  c.context_length = file.get_int(p + "context_length").value_or(2048);
  c.rms_norm_eps = (float)file.get_float(p + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  c.rope_freq_base = (float)file.get_float(p + "rope.freq_base").value_or(10000.0);
  c.rope_dim = file.get_int(p + "rope.dimension_count").value_or(c.head_dim);
  if (auto type = file.get_string(p + "rope.scaling.type"); type && *type == "linear") {
    const double factor = file.get_float(p + "rope.scaling.factor").value_or(1.0);
    if (factor > 0) c.rope_freq_scale = (float)(1.0 / factor);
  } else if (type && *type != "none") {
    return Status::Error(file.path() + ": unsupported rope scaling type '" + std::string(*type) + "'");
  }
  if (auto vocab = file.get_int(p + "vocab_size")) {
    c.vocab_size = *vocab;
  } else if (const auto* tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->is_array()) {
    c.vocab_size = (int64_t)tokens->count;
  }
  // NOTE: the loaders size per-layer arrays from these before they look for the tensors, so
  // a value no file could back must fail here (a fuzzed block_count of 2^32 once asked for
  // 68 GB). Every layer has tensors of its own; no dimension of a real model comes near
  // 2^24, which keeps the products of two of them far inside int64.
  constexpr int64_t kMaxDim = int64_t{1} << 24;
  const std::pair<const char*, int64_t> dims[] = {
      {"embedding_length", c.embedding_dim}, {"feed_forward_length", c.ffn_dim},
      {"attention.head_count", c.num_heads}, {"attention.head_count_kv", c.num_kv_heads},
      {"attention.key_length", c.head_dim},  {"rope.dimension_count", c.rope_dim},
      {"vocab_size", c.vocab_size}};
  for (const auto& [key, value] : dims)
    if (value > kMaxDim)
      return Status::Error(file.path() + ": " + p + key + " " + std::to_string(value) +
                           " is larger than any model's (at most " + std::to_string(kMaxDim) + ")");
  if (c.num_layers > (int64_t)file.tensors().size())
    return Status::Error(file.path() + ": " + p + "block_count " + std::to_string(c.num_layers) +
                         " exceeds the file's " + std::to_string(file.tensors().size()) +
                         " tensors (every layer has its own)");
  if (c.context_length <= 0)
    return Status::Error(file.path() + ": " + p + "context_length must be positive");
  if (c.vocab_size < 0) return Status::Error(file.path() + ": " + p + "vocab_size must be positive");
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    return Status::Error(file.path() + ": head_count " + std::to_string(c.num_heads) +
                         " is not a multiple of head_count_kv " + std::to_string(c.num_kv_heads));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.rope_dim <= 0 || c.rope_dim > c.head_dim ||
      c.rope_dim % 2 != 0)
    return Status::Error(file.path() + ": invalid head dimension " + std::to_string(c.head_dim) +
                         " / rope dimension " + std::to_string(c.rope_dim));
  return c;
}

std::string ModelConfig::describe() const {
  std::ostringstream s;
  s << arch << " '" << name << "': " << num_layers << " layers, d_model " << embedding_dim
    << ", ffn " << ffn_dim << ", heads " << num_heads << "/" << num_kv_heads << " (kv), head_dim "
    << head_dim << ", vocab " << vocab_size << ", context " << context_length;
  return s.str();
}

}  // namespace kiln
