#include "engine/draft_model_proposer.h"

#include <algorithm>

#include "engine/sampler.h"

namespace kiln {

DraftModelProposer::DraftModelProposer(Model& draft, int64_t max_tokens, int32_t num_slots)
    : draft_(draft), max_tokens_(max_tokens), slots_((size_t)std::max(1, num_slots)) {}

DraftModelProposer::Slot& DraftModelProposer::slot_for(int64_t seq_id) {
  Slot* best = &slots_[0];
  for (Slot& s : slots_) {
    if (s.seq_id == seq_id) {
      best = &s;
      break;
    }
    if (s.last_used < best->last_used) best = &s;
  }
  best->seq_id = seq_id;
  best->last_used = ++clock_;
  return *best;
}

bool DraftModelProposer::append(Slot& slot, std::span<const int32_t> ids) {
  if (!slot.session->append(ids).ok()) {
    slot.session->reset();
    slot.tokens.clear();
    return false;
  }
  slot.tokens.insert(slot.tokens.end(), ids.begin(), ids.end());
  tokens_computed_ += (int64_t)ids.size();
  return true;
}

void DraftModelProposer::propose(int64_t seq_id, std::span<const int32_t> tokens, int32_t k,
                                 std::vector<int32_t>& out) {
  out.clear();
  if (k <= 0 || tokens.empty() || (int64_t)tokens.size() + k > max_tokens_) return;
  Slot& slot = slot_for(seq_id);
  if (!slot.session) slot.session = std::make_unique<Session>(draft_, max_tokens_);
  if ((int64_t)tokens.size() + k > slot.session->max_tokens()) return;  // past the draft's context
  // Keep what still agrees with the sequence; at least its last token is run again, since
  // the next guess comes from that token's logits.
  size_t keep = (size_t)(std::mismatch(slot.tokens.begin(), slot.tokens.end(), tokens.begin(),
                                       tokens.end())
                             .first -
                         slot.tokens.begin());
  keep = std::min(keep, tokens.size() - 1);
  slot.session->truncate((int64_t)keep);
  slot.tokens.resize(keep);
  if (!append(slot, tokens.subspan(keep))) return;
  for (int32_t i = 0; i < k; ++i) {
    const int32_t guess = argmax(slot.session->last_logits());
    out.push_back(guess);
    if (i + 1 < k && !append(slot, std::span<const int32_t>(&guess, 1))) return;
  }
}

}  // namespace kiln
