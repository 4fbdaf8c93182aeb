// A Grammar prepared for one vocabulary: the automaton plus, for every position that can
// be on top of a stack, the tokens whose fate is decided by that position alone.
//
// Context-independent precomputation (the idea behind xgrammar's adaptive token mask
// cache): for a leaf position p, walk the vocabulary trie from p with nothing known below
// p's rule. A token that is consumed while staying inside p's rule (or that completes the
// rule exactly at its last byte) is allowed in every context; one that fails inside the
// rule is refused in every context; only a token that runs past the end of p's rule
// depends on the stack below, and is checked against the real stack when a mask is made.
// In JSON-like grammars that leaves a few hundred tokens to check per step instead of the
// vocabulary.
//
// Positions are classified lazily, the first time a matcher stands on them, and kept: a
// large schema has hundreds of leaf positions of which one generation visits a few dozen
// (one branch of an anyOf, the properties the model writes), and classifying them all up
// front made compiles of large schemas take seconds on a 150k vocabulary. The positions of
// the initial state are classified at construction, since every request needs them, and
// then, within a time budget, the positions of the rules nearest the root: compilation runs
// on an HTTP worker, while a first-use classification runs inside an engine step that the
// whole batch waits for, so a few tens of milliseconds are better spent here.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "structured/automaton.h"
#include "structured/grammar.h"
#include "structured/vocabulary.h"

namespace kiln::structured {

// Allowed tokens as a bitset over the logits row.
class TokenMask {
 public:
  explicit TokenMask(int32_t size = 0) { resize(size); }
  void resize(int32_t size) {
    size_ = size;
    words_.assign(((size_t)size + 63) / 64, 0);
  }
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  bool test(int32_t id) const { return (words_[(size_t)id >> 6] >> (id & 63)) & 1; }
  void set(int32_t id) { words_[(size_t)id >> 6] |= 1ull << (id & 63); }
  void or_with(const std::vector<uint64_t>& words) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] |= words[i];
  }
  int32_t size() const { return size_; }
  int32_t count() const;
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  int32_t size_ = 0;
  std::vector<uint64_t> words_;
};

class CompiledGrammar {
 public:
  // Builds the automaton and classifies the initial state's positions (run it off the
  // engine thread). Shared by every sequence using the grammar; thread-safe.
  CompiledGrammar(Grammar grammar, std::shared_ptr<const TokenVocabulary> vocab,
                  double eager_seconds = kDefaultEagerSeconds);
  static constexpr double kDefaultEagerSeconds = 0.05;
  ~CompiledGrammar();

  const Grammar& grammar() const { return grammar_; }
  const Automaton& automaton() const { return automaton_; }
  const TokenVocabulary& vocab() const { return *vocab_; }

  struct PositionTokens {
    std::vector<uint64_t> accepted_bits;  // over the mask, when dense
    std::vector<int32_t> accepted_list;   // when sparse
    std::vector<int32_t> uncertain;       // decided only with the stack below
  };
  // The classes of leaf position `pos`, computed on first use (then a lock-free read).
  const PositionTokens& position_tokens(uint32_t pos) const {
    if (const PositionTokens* p = positions_[pos].load(std::memory_order_acquire)) return *p;
    return classify_position(pos);
  }
  // Positions classified so far (for tests and the benchmark's report).
  size_t classified_positions() const;

 private:
  const PositionTokens& classify_position(uint32_t pos) const;

  Grammar grammar_;
  Automaton automaton_;
  std::shared_ptr<const TokenVocabulary> vocab_;
  // Published once classified; owned by `storage_`. Indexed by position.
  std::unique_ptr<std::atomic<const PositionTokens*>[]> positions_;
  // Classification shares one arena and transition table (their states recur from one
  // position to the next), so it runs under a lock; a position is classified once.
  mutable std::mutex classify_mutex_;
  mutable std::unique_ptr<StackArena> arena_;
  mutable std::unique_ptr<StateTable> table_;
  mutable std::vector<std::unique_ptr<PositionTokens>> storage_;
};

}  // namespace kiln::structured
