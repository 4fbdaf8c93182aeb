#include "structured/grammar_matcher.h"

#include <algorithm>

#include "structured/automaton.h"

namespace kiln::structured {

GrammarMatcher::GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar)
    : grammar_(std::move(grammar)),
      arena_(std::make_unique<StackArena>(grammar_->automaton())),
      table_(std::make_unique<StateTable>(*arena_)),
      state_(arena_->initial_state()) {}

GrammarMatcher::GrammarMatcher(const GrammarMatcher& other)
    : grammar_(other.grammar_),
      arena_(std::make_unique<StackArena>(*other.arena_)),
      table_(std::make_unique<StateTable>(*arena_)),
      state_(other.state_),
      finished_(other.finished_),
      walk_threshold_(other.walk_threshold_) {}

bool GrammarMatcher::can_end() const {
  return !finished_ && std::binary_search(state_.begin(), state_.end(), kAccept);
}

bool GrammarMatcher::must_end() const {
  return !finished_ && state_.size() == 1 && state_[0] == kAccept;
}

bool GrammarMatcher::token_allowed_from(int32_t state, std::string_view bytes) {
  for (unsigned char c : bytes)
    if ((state = table_->step(state, c)) == StateTable::kDead) return false;
  return true;
}

// Walks the whole trie from one real stack: used when a position leaves too many tokens
// to the context for one-by-one checks.
void GrammarMatcher::allow_by_walk(int32_t state, TokenMask& mask) {
  const TokenVocabulary& vocab = grammar_->vocab();
  const auto& trie = vocab.trie();
  const auto& toks = vocab.trie_tokens();
  walk_states_.resize(vocab.max_depth() + 1);
  walk_states_[0] = state;
  uint32_t i = 1;
  while (i < trie.size()) {
    const auto& n = trie[i];
    const int32_t next = table_->step(walk_states_[n.depth - 1], n.byte);
    if (next == StateTable::kDead) {
      i = n.end;
      continue;
    }
    walk_states_[n.depth] = next;
    for (uint32_t t = n.tok_begin; t < n.tok_end; ++t) mask.set(toks[t]);
    ++i;
  }
}

void GrammarMatcher::fill_mask(TokenMask& mask) {
  const TokenVocabulary& vocab = grammar_->vocab();
  if (mask.size() != vocab.mask_size()) mask.resize(vocab.mask_size());
  mask.clear();
  if (finished_) return;
  for (StackId leaf : state_) {
    if (leaf == kAccept) {
      for (int32_t id : vocab.end_tokens())
        if (id >= 0 && id < mask.size()) mask.set(id);
      continue;
    }
    const auto& pt = grammar_->position_tokens(arena_->top(leaf));
    if (!pt.accepted_bits.empty()) mask.or_with(pt.accepted_bits);
    for (int32_t t : pt.accepted_list) mask.set(t);
    if (pt.uncertain.empty()) continue;
    const int32_t alone = table_->intern({leaf});
    if (pt.uncertain.size() > walk_threshold_) {
      allow_by_walk(alone, mask);
      continue;
    }
    for (int32_t t : pt.uncertain)
      if (!mask.test(t) && token_allowed_from(alone, vocab.bytes(t))) mask.set(t);
  }
}

bool GrammarMatcher::accept_token(int32_t id) {
  if (finished_) return false;
  const TokenVocabulary& vocab = grammar_->vocab();
  if (std::binary_search(vocab.end_tokens().begin(), vocab.end_tokens().end(), id)) {
    if (!can_end()) return false;
    finished_ = true;
    return true;
  }
  if (id < 0 || id >= vocab.num_tokens() || vocab.bytes(id).empty()) return false;
  return accept_bytes(vocab.bytes(id));
}

bool GrammarMatcher::accept_bytes(std::string_view bytes) {
  if (finished_) return false;
  std::vector<StackId> next = arena_->run(state_, bytes);
  if (next.empty()) return false;
  state_ = std::move(next);
  return true;
}

}  // namespace kiln::structured
