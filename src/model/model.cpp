#include "model/model.h"

#include <algorithm>
#include <numeric>
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

std::vector<std::string_view> supported_architectures() {
  std::vector<std::string_view> out;
  for (const Architecture& a : kArchitectures) out.push_back(a.name);
  return out;
}

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
  using std::to_string;
  const int64_t n = (int64_t)b.token_ids.size();
  if (n == 0) return Status::Error("empty batch");
  if (n > options_.max_batch_tokens)
    return Status::Error("batch of " + to_string(n) + " tokens exceeds the maximum of " +
                         to_string(options_.max_batch_tokens));
  if ((int64_t)b.positions.size() != n)
    return Status::Error("positions: " + to_string(b.positions.size()) + " for " + to_string(n) +
                         " tokens");
  for (int64_t i = 0; i < n; ++i) {
    const int32_t id = b.token_ids[i];
    if (id < 0 || id >= config_.vocab_size)
      return Status::Error("token_ids[" + to_string(i) + "]: " + to_string(id) +
                           " is outside the vocabulary of " + to_string(config_.vocab_size));
  }
  int64_t next_token = 0;
  for (size_t s = 0; s < b.sequences.size(); ++s) {
    const SequenceSlice& seq = b.sequences[s];
    const std::string where = "sequences[" + to_string(s) + "]: ";
    if (seq.first_token != next_token || seq.num_tokens <= 0 || seq.num_tokens > n - next_token)
      return Status::Error(where + "tokens [" + to_string(seq.first_token) + ", " +
                           to_string((int64_t)seq.first_token + seq.num_tokens) +
                           ") do not continue from token " + to_string(next_token) +
                           " with at least one of the batch's " + to_string(n) + " tokens");
    const int64_t first = seq.first_token, last = first + seq.num_tokens - 1;
    if (b.positions[first] < 0)
      return Status::Error(where + "negative position " + to_string(b.positions[first]));
    for (int64_t t = first + 1; t <= last; ++t)
      if ((int64_t)b.positions[t] != (int64_t)b.positions[t - 1] + 1)
        return Status::Error(where + "positions[" + to_string(t) + "] is " +
                             to_string(b.positions[t]) + ", not " +
                             to_string((int64_t)b.positions[t - 1] + 1) + " (consecutive)");
    const int64_t blocks_needed = b.positions[last] / kv.block_size() + 1;
    if ((int64_t)seq.block_table.size() < blocks_needed)
      return Status::Error(where + "block table of " + to_string(seq.block_table.size()) +
                           " blocks does not reach position " + to_string(b.positions[last]) +
                           " (needs " + to_string(blocks_needed) + ")");
    for (int64_t i = 0; i < blocks_needed; ++i) {
      const int32_t block_id = seq.block_table[i];
      if (block_id < 0 || block_id >= kv.num_blocks())
        return Status::Error(where + "block_table[" + to_string(i) + "] = " + to_string(block_id) +
                             " is outside the KV pool of " + to_string(kv.num_blocks()) +
                             " blocks");
    }
    next_token = last + 1;
  }
  if (next_token != n)
    return Status::Error("sequences cover " + to_string(next_token) + " of the batch's " +
                         to_string(n) + " tokens");
  if ((int64_t)b.logit_rows.size() > n)
    return Status::Error("logit_rows: " + to_string(b.logit_rows.size()) + " rows for a batch of " +
                         to_string(n) + " tokens");
  for (size_t i = 0; i < b.logit_rows.size(); ++i) {
    const int32_t row = b.logit_rows[i];
    if (row < 0 || row >= n || (i > 0 && row <= b.logit_rows[i - 1]))
      return Status::Error("logit_rows[" + to_string(i) + "] = " + to_string(row) +
                           " is not an increasing token index in [0, " + to_string(n) + ")");
  }
  return Status::Ok();
}

const ForwardBatch& SingleSequenceBatch::assign(std::span<const int32_t> token_ids,
                                                int32_t first_pos,
                                                std::span<const int32_t> block_table,
                                                bool all_logits) {
  const int32_t n = (int32_t)token_ids.size();
  positions_.resize(n);
  std::iota(positions_.begin(), positions_.end(), first_pos);
  logit_rows_.resize(all_logits ? n : std::min(n, 1));
  std::iota(logit_rows_.begin(), logit_rows_.end(), all_logits ? 0 : n - 1);
  slice_ = SequenceSlice{0, n, block_table};
  batch_.token_ids = token_ids;
  batch_.positions = positions_;
  batch_.sequences = std::span<const SequenceSlice>(&slice_, 1);
  batch_.logit_rows = logit_rows_;
  return batch_;
}

}  // namespace kiln
