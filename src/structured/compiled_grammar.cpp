#include "structured/compiled_grammar.h"

#include <algorithm>
#include <bit>

namespace kiln::structured {

int32_t TokenMask::count() const {
  int32_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

namespace {

// Classifies every token for leaf position `pos` by one walk of the trie.
CompiledGrammar::PositionTokens classify(StackArena& arena, uint32_t pos,
                                         const TokenVocabulary& vocab) {
  const auto& trie = vocab.trie();
  const auto& toks = vocab.trie_tokens();
  std::vector<int32_t> accepted;
  CompiledGrammar::PositionTokens out;
  // states[d]: the paths after the first d bytes of the current trie path; escaped[d]:
  // some path left the rule before byte d+1, so longer tokens depend on the caller.
  std::vector<std::vector<StackId>> states(vocab.max_depth() + 1);
  std::vector<uint8_t> escaped(vocab.max_depth() + 1, 0);
  states[0] = arena.state_at(pos);
  escaped[0] = 0;
  uint32_t i = 1;
  while (i < trie.size()) {
    const auto& n = trie[i];
    const uint32_t d = n.depth;
    const std::vector<StackId>& prev = states[d - 1];
    const bool was_escaped =
        escaped[d - 1] || std::binary_search(prev.begin(), prev.end(), kEscaped);
    arena.step_state(prev, n.byte, states[d]);
    if (states[d].empty()) {
      if (was_escaped)
        out.uncertain.insert(out.uncertain.end(), toks.begin() + n.tok_begin,
                             toks.begin() + n.subtree_tok_end);
      i = n.end;  // nothing below can be decided inside the rule
      continue;
    }
    accepted.insert(accepted.end(), toks.begin() + n.tok_begin, toks.begin() + n.tok_end);
    escaped[d] = was_escaped;
    ++i;
  }
  // A dense set is cheaper as bits (one OR per step), a sparse one as a list.
  const size_t words = ((size_t)vocab.mask_size() + 63) / 64;
  if (accepted.size() * 4 > words * 8) {
    out.accepted_bits.assign(words, 0);
    for (int32_t t : accepted) out.accepted_bits[(size_t)t >> 6] |= 1ull << (t & 63);
  } else {
    std::sort(accepted.begin(), accepted.end());
    out.accepted_list = std::move(accepted);
  }
  std::sort(out.uncertain.begin(), out.uncertain.end());
  return out;
}

}  // namespace

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocab)
    : grammar_(std::move(grammar)), automaton_(grammar_), vocab_(std::move(vocab)) {
  positions_.resize(automaton_.num_positions());
  StackArena arena(automaton_);
  for (uint32_t pos = 0; pos < automaton_.num_positions(); ++pos)
    if (automaton_.is_leaf(pos) && !automaton_.elem(pos).bytes.empty())
      positions_[pos] = classify(arena, pos, *vocab_);
}

size_t CompiledGrammar::memory_bytes() const {
  size_t n = 0;
  for (const auto& p : positions_)
    n += p.accepted_bits.size() * 8 + (p.accepted_list.size() + p.uncertain.size()) * 4;
  return n;
}

}  // namespace kiln::structured
