// One sequence's position in a compiled grammar: which tokens may come next (the mask),
// and the step taken when a token is chosen. Copyable (n > 1 forks copy the parent's).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "structured/compiled_grammar.h"

namespace kiln::structured {

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const CompiledGrammar> grammar);
  GrammarMatcher(const GrammarMatcher& other);
  GrammarMatcher& operator=(const GrammarMatcher&) = delete;

  // Sets exactly the tokens allowed next: text tokens whose bytes the grammar can consume
  // from here, and the end tokens when the grammar may end here.
  void fill_mask(TokenMask& mask);
  // Advances by a token. False (state unchanged) if the grammar does not allow it. An end
  // token is accepted when the grammar may end, and finishes the matcher.
  bool accept_token(int32_t id);
  // Advances by raw bytes (prefilled text); false (state unchanged) if refused.
  bool accept_bytes(std::string_view bytes);

  // The text so far is a complete match (an end token would be allowed).
  bool can_end() const;
  // Nothing but the end can follow (no byte is possible).
  bool must_end() const;
  // An end token was accepted.
  bool finished() const { return finished_; }

  const CompiledGrammar& grammar() const { return *grammar_; }
  // Past this many context-dependent tokens at one position, fill_mask walks the trie from
  // the real stack instead of checking them one by one (a knob for tests).
  void set_walk_threshold(size_t n) { walk_threshold_ = n; }

 private:
  bool token_allowed_from(int32_t state, std::string_view bytes);
  void allow_by_walk(int32_t state, TokenMask& mask);

  std::shared_ptr<const CompiledGrammar> grammar_;
  // The arena is copied, not shared, so forks can advance independently.
  std::unique_ptr<StackArena> arena_;
  std::unique_ptr<StateTable> table_;  // over arena_, for trie walks and token checks
  std::vector<StackId> state_;
  bool finished_ = false;
  size_t walk_threshold_ = 4096;
  std::vector<int32_t> walk_states_;
};

}  // namespace kiln::structured
