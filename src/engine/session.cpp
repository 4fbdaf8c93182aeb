#include "engine/session.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace kiln {

namespace {
int64_t clamp_context(const Model& model, int64_t max_tokens) {
  const int64_t trained = model.config().context_length;
  return std::max<int64_t>(1, trained > 0 ? std::min(max_tokens, trained) : max_tokens);
}
}  // namespace

int64_t Session::kv_bytes(const Model& model, int64_t max_tokens, KvDType kv_dtype) {
  const int64_t blocks = (clamp_context(model, max_tokens) + kBlockSize - 1) / kBlockSize;
  return blocks * kBlockSize * KvStorage::bytes_per_token(model.config(), kv_dtype);
}

Session::Session(Model& model, int64_t max_tokens, KvDType kv_dtype)
    : model_(model),
      max_tokens_(clamp_context(model, max_tokens)),
      kv_(model.config(), (max_tokens_ + kBlockSize - 1) / kBlockSize, kBlockSize, kv_dtype),
      block_table_(kv_.num_blocks()) {
  // A lone sequence owns every block, in order.
  std::iota(block_table_.begin(), block_table_.end(), 0);
}

Status Session::append(std::span<const int32_t> ids, bool all_logits) {
  if (num_tokens_ + (int64_t)ids.size() > max_tokens_)
    return Status::Error("sequence of " + std::to_string(num_tokens_ + ids.size()) +
                         " tokens exceeds the context of " + std::to_string(max_tokens_));
  const int64_t vocab = model_.config().vocab_size;
  const int64_t chunk = model_.options().max_batch_tokens;
  logits_.resize((all_logits ? std::max<size_t>(ids.size(), 1) : 1) * vocab);
  for (size_t start = 0; start < ids.size(); start += chunk) {
    const size_t n = std::min<size_t>(chunk, ids.size() - start);
    const ForwardBatch& batch =
        batch_.assign(ids.subspan(start, n), (int32_t)num_tokens_, block_table_, all_logits);
    float* out = all_logits ? logits_.data() + start * vocab : logits_.data();
    KILN_RETURN_IF_ERROR(model_.forward(batch, kv_, out));
    num_tokens_ += (int64_t)n;
  }
  return Status::Ok();
}

std::span<const float> Session::last_logits() const {
  const size_t vocab = (size_t)model_.config().vocab_size;
  return std::span<const float>(logits_).subspan(logits_.size() - vocab, vocab);
}

}  // namespace kiln
