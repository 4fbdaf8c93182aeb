#include "structured/matcher.h"

#include <algorithm>

#include "structured/automaton.h"

namespace kiln::structured {

bool grammar_accepts(const Grammar& grammar, std::string_view text) {
  Automaton automaton(grammar);
  StackArena arena(automaton);
  const std::vector<StackId> state = arena.run(arena.initial_state(), text);
  return std::binary_search(state.begin(), state.end(), kAccept);
}

bool grammar_accepts_prefix(const Grammar& grammar, std::string_view text) {
  Automaton automaton(grammar);
  StackArena arena(automaton);
  return !arena.run(arena.initial_state(), text).empty();
}

}  // namespace kiln::structured
