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
CompiledGrammar::PositionTokens classify(StackArena& arena, StateTable& table, uint32_t pos,
                                         const TokenVocabulary& vocab) {
  const auto& trie = vocab.trie();
  const auto& toks = vocab.trie_tokens();
  std::vector<int32_t> accepted;
  CompiledGrammar::PositionTokens out;
  // states[d]: the paths after the first d bytes of the current trie path; escaped[d]:
  // some path left the rule before byte d+1, so longer tokens depend on the caller.
  std::vector<int32_t> states(vocab.max_depth() + 1);
  std::vector<uint8_t> escaped(vocab.max_depth() + 1, 0);
  states[0] = table.intern(arena.state_at(pos));
  escaped[0] = 0;
  uint32_t i = 1;
  while (i < trie.size()) {
    const auto& n = trie[i];
    const uint32_t d = n.depth;
    const int32_t prev = states[d - 1];
    const bool was_escaped = escaped[d - 1] || table.escaped(prev);
    const int32_t next = table.step(prev, n.byte);
    if (next == StateTable::kDead) {
      if (was_escaped)
        out.uncertain.insert(out.uncertain.end(), toks.begin() + n.tok_begin,
                             toks.begin() + n.subtree_tok_end);
      i = n.end;  // nothing below can be decided inside the rule
      continue;
    }
    states[d] = next;
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

// Rules the root can reach (lowering and inlining leave unused rules behind).
static std::vector<bool> reachable_rules(const Grammar& g) {
  std::vector<bool> seen(g.rules.size(), false);
  std::vector<uint32_t> todo = {g.root};
  seen[g.root] = true;
  while (!todo.empty()) {
    const uint32_t r = todo.back();
    todo.pop_back();
    for (const auto& alt : g.rules[r].alternatives)
      for (const Element& el : alt)
        if (el.kind == ElementKind::kRule && !seen[el.rule]) {
          seen[el.rule] = true;
          todo.push_back(el.rule);
        }
  }
  return seen;
}

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocab)
    : grammar_(std::move(grammar)), automaton_(grammar_), vocab_(std::move(vocab)) {
  positions_.resize(automaton_.num_positions());
  const std::vector<bool> reachable = reachable_rules(grammar_);
  StackArena arena(automaton_);
  StateTable table(arena);
  for (uint32_t r = 0; r < grammar_.rules.size(); ++r) {
    if (!reachable[r]) continue;
    for (uint32_t start : automaton_.alternative_starts(r))
      for (uint32_t pos = start; automaton_.elem(pos).kind != Automaton::Kind::kEnd; ++pos)
        if (automaton_.is_leaf(pos) && !automaton_.elem(pos).bytes.empty())
          positions_[pos] = classify(arena, table, pos, *vocab_);
  }
}

}  // namespace kiln::structured
