#include "structured/compiled_grammar.h"

#include <bit>
#include <chrono>

namespace kiln::structured {

int32_t TokenMask::count() const {
  int32_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

namespace {

// Walks the trie nodes [first, last) (whole subtrees) from the state `start` the path to
// `first`'s parent left, sorting each token into accepted / uncertain (see the header).
// `start_escaped`: some path left the rule before `first`.
void walk_nodes(StateTable& table, const TokenVocabulary& vocab, uint32_t first, uint32_t last,
                int32_t start, bool start_escaped, std::vector<int32_t>& states,
                std::vector<uint8_t>& escaped, std::vector<int32_t>& accepted,
                std::vector<int32_t>& uncertain) {
  const auto& trie = vocab.trie();
  const auto& toks = vocab.trie_tokens();
  const uint32_t base = trie[first].depth - 1;
  states[base] = start;
  escaped[base] = start_escaped;
  uint32_t i = first;
  while (i < last) {
    const auto& n = trie[i];
    const uint32_t d = n.depth;
    const int32_t prev = states[d - 1];
    const bool was_escaped = escaped[d - 1] || table.escaped(prev);
    const int32_t next = table.step(prev, n.byte);
    if (next == StateTable::kDead) {
      if (was_escaped)
        uncertain.insert(uncertain.end(), toks.begin() + n.tok_begin,
                         toks.begin() + n.subtree_tok_end);
      i = n.end;  // nothing below can be decided inside the rule
      continue;
    }
    states[d] = next;
    accepted.insert(accepted.end(), toks.begin() + n.tok_begin, toks.begin() + n.tok_end);
    escaped[d] = was_escaped;
    ++i;
  }
}

// Classifies every token for leaf position `pos` by one walk of the trie. A position whose
// byte class leads to one state that the class then keeps (a JSON string's characters,
// written as a loop or as a tail-recursive rule, with the closing quote outside the class)
// takes the vocabulary's closure of the class instead: the tokens inside it are accepted as a block, and only the subtrees below the
// exits are walked: a few thousand nodes instead of the whole trie.
CompiledGrammar::PositionTokens classify(const Automaton& automaton, StackArena& arena,
                                         StateTable& table, uint32_t pos,
                                         const TokenVocabulary& vocab) {
  std::vector<int32_t> accepted;
  CompiledGrammar::PositionTokens out;
  std::vector<int32_t> states(vocab.max_depth() + 1);
  std::vector<uint8_t> escaped(vocab.max_depth() + 1, 0);
  const int32_t start = table.intern(arena.state_at(pos));
  const size_t words = ((size_t)vocab.mask_size() + 63) / 64;
  // Closed: every byte of the class leads from `start` to one state `inside`, and from
  // `inside` back to itself, so every path within the class ends in `inside`.
  const Automaton::Elem& el = automaton.elem(pos);
  bool closed_loop = !el.bytes.empty();
  int32_t inside = StateTable::kDead;
  for (int b = 0; b < 256 && closed_loop; ++b) {
    if (!el.bytes.contains((uint8_t)b)) continue;
    const int32_t next = table.step(start, (uint8_t)b);
    if (inside == StateTable::kDead) inside = next;
    closed_loop = next == inside && next != StateTable::kDead;
  }
  for (int b = 0; b < 256 && closed_loop; ++b)
    if (el.bytes.contains((uint8_t)b)) closed_loop = table.step(inside, (uint8_t)b) == inside;
  if (closed_loop) {
    const auto closure = vocab.class_closure(el.bytes);
    const bool escaped_inside = table.escaped(start);  // left the rule on the first byte
    for (uint32_t e : closure->exits) {
      const bool first_byte = vocab.trie()[e].depth == 1;
      walk_nodes(table, vocab, e, vocab.trie()[e].end, first_byte ? start : inside,
                 !first_byte && escaped_inside, states, escaped, accepted, out.uncertain);
    }
    out.accepted_bits = closure->inside_bits;
    for (int32_t t : accepted) out.accepted_bits[(size_t)t >> 6] |= 1ull << (t & 63);
    return out;
  }
  walk_nodes(table, vocab, 1, (uint32_t)vocab.trie().size(), start, false, states, escaped,
             accepted, out.uncertain);
  // A dense set is cheaper as bits (one OR per step), a sparse one as a list.
  if (accepted.size() * 4 > words * 8) {
    out.accepted_bits.assign(words, 0);
    for (int32_t t : accepted) out.accepted_bits[(size_t)t >> 6] |= 1ull << (t & 63);
  } else {
    out.accepted_list = std::move(accepted);  // in trie order: fill_mask needs no order
  }
  return out;
}

}  // namespace

// Rules the root reaches, nearest first (breadth-first over rule references).
static std::vector<uint32_t> rules_by_distance(const Grammar& g) {
  std::vector<bool> seen(g.rules.size(), false);
  std::vector<uint32_t> order = {g.root};
  seen[g.root] = true;
  for (size_t i = 0; i < order.size(); ++i)
    for (const auto& alt : g.rules[order[i]].alternatives)
      for (const Element& el : alt)
        if (el.kind == ElementKind::kRule && !seen[el.rule]) {
          seen[el.rule] = true;
          order.push_back(el.rule);
        }
  return order;
}

CompiledGrammar::CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocab,
                                 double eager_seconds)
    : grammar_(std::move(grammar)),
      automaton_(grammar_),
      vocab_(std::move(vocab)),
      positions_(new std::atomic<const PositionTokens*>[automaton_.num_positions()]),
      arena_(std::make_unique<StackArena>(automaton_)),
      table_(std::make_unique<StateTable>(*arena_)) {
  for (uint32_t p = 0; p < automaton_.num_positions(); ++p)
    positions_[p].store(nullptr, std::memory_order_relaxed);
  for (StackId leaf : arena_->initial_state())
    if (leaf != kAccept) position_tokens(arena_->top(leaf));
  if (eager_seconds <= 0) return;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(eager_seconds));
  for (uint32_t r : rules_by_distance(grammar_))
    for (uint32_t start : automaton_.alternative_starts(r))
      for (uint32_t pos = start; automaton_.elem(pos).kind != Automaton::Kind::kEnd; ++pos) {
        if (!automaton_.is_leaf(pos) || automaton_.elem(pos).bytes.empty()) continue;
        if (std::chrono::steady_clock::now() >= deadline) return;
        position_tokens(pos);
      }
}

CompiledGrammar::~CompiledGrammar() = default;

const CompiledGrammar::PositionTokens& CompiledGrammar::classify_position(uint32_t pos) const {
  std::lock_guard<std::mutex> lock(classify_mutex_);
  if (const PositionTokens* p = positions_[pos].load(std::memory_order_acquire)) return *p;
  storage_.push_back(
      std::make_unique<PositionTokens>(classify(automaton_, *arena_, *table_, pos, *vocab_)));
  positions_[pos].store(storage_.back().get(), std::memory_order_release);
  return *storage_.back();
}

size_t CompiledGrammar::classified_positions() const {
  std::lock_guard<std::mutex> lock(classify_mutex_);
  return storage_.size();
}

}  // namespace kiln::structured
