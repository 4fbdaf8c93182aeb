// One sequence run against a model with its own KV storage: what `kiln run`, `kiln logits`
// and the offline benchmark use until the batching engine loop exists.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/kv_storage.h"
#include "model/model.h"
#include "util/status.h"

namespace kiln {

class Session {
 public:
  static constexpr int64_t kBlockSize = 16;

  // KV for up to max_tokens tokens (clamped to the model's trained context), stored as
  // kv_dtype.
  Session(Model& model, int64_t max_tokens, KvDType kv_dtype = KvDType::kF16);
  // The KV memory such a session holds once full.
  static int64_t kv_bytes(const Model& model, int64_t max_tokens, KvDType kv_dtype = KvDType::kF16);

  int64_t num_tokens() const { return num_tokens_; }
  int64_t max_tokens() const { return max_tokens_; }

  // Runs the tokens after the ones already in the sequence, in chunks of the model's
  // max batch. Afterwards logits() holds the last token's logits (or, with all_logits,
  // every appended token's, [ids.size()][vocab]).
  [[nodiscard]] Status append(std::span<const int32_t> ids, bool all_logits = false);
  std::span<const float> logits() const { return logits_; }
  std::span<const float> last_logits() const;

  void reset() { num_tokens_ = 0; }
  // Forgets every token after the first num_tokens (their KV rows get overwritten), so a
  // conversation can keep the prefix it shares with the next prompt.
  void truncate(int64_t num_tokens) {
    if (num_tokens < num_tokens_) num_tokens_ = num_tokens < 0 ? 0 : num_tokens;
  }

 private:
  Model& model_;
  int64_t max_tokens_;
  KvStorage kv_;
  std::vector<int32_t> block_table_;
  SingleSequenceBatch batch_;
  std::vector<float> logits_;
  int64_t num_tokens_ = 0;
};

}  // namespace kiln
