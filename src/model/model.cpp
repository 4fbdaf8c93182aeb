#include "model/model.h"

#include <string>
#include <string_view>

namespace kiln {

namespace {
struct Architecture {
  std::string_view name;  // general.architecture
  ModelFactory load;
};
constexpr Architecture kArchitectures[] = {
    {"llama", load_llama},
    {"qwen2", load_qwen2},
    {"qwen3", load_qwen3},
    {"gemma3", load_gemma3},
};
}  // namespace

StatusOr<std::unique_ptr<Model>> Model::load(const gguf::File& file, ThreadPool& pool,
                                             const ModelOptions& options) {
  auto arch = file.require_string("general.architecture");
  if (!arch.ok()) return arch.status();
  std::string supported;
  for (const Architecture& a : kArchitectures) {
    if (a.name == *arch) {
      auto config = ModelConfig::from_gguf(file);
      if (!config.ok()) return config.status();
      return a.load(file, std::move(*config), pool, options);
    }
    supported += (supported.empty() ? "" : ", ") + std::string(a.name);
  }
  return Status::Error(file.path() + ": unsupported architecture '" + std::string(*arch) +
                       "' (supported: " + supported + ")");
}

Status Model::validate(const ForwardBatch& b, const KvStorage& kv) const {
  const int64_t n = (int64_t)b.token_ids.size();
  if (n == 0) return Status::Error("empty batch");
  if (n > options_.max_batch_tokens)
    return Status::Error("batch of " + std::to_string(n) + " tokens exceeds the maximum of " +
                         std::to_string(options_.max_batch_tokens));
  if ((int64_t)b.positions.size() != n) return Status::Error("positions do not match tokens");
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = b.token_ids[i];
    if (id < 0 || id >= config_.vocab_size)
      return Status::Error("token id " + std::to_string(id) + " outside the vocabulary of " +
                           std::to_string(config_.vocab_size));
    const int32_t pos = b.positions[i];
    if (pos < 0) return Status::Error("negative position");
    const int64_t block = pos / kv.block_size();
    if (block >= (int64_t)b.block_table.size())
      return Status::Error("position " + std::to_string(pos) + " has no KV block");
    const int32_t block_id = b.block_table[block];
    if (block_id < 0 || block_id >= kv.num_blocks()) return Status::Error("bad KV block id");
  }
  return Status::Ok();
}

}  // namespace kiln
