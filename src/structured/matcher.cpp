#include "structured/matcher.h"

#include <algorithm>

#include "structured/automaton.h"

namespace kiln::structured {

namespace {

// The state after `text`, empty when some byte was refused.
std::vector<StackId> run(StackArena& arena, std::vector<StackId> state, std::string_view text) {
  std::vector<StackId> next;
  for (unsigned char c : text) {
    arena.step_state(state, c, next);
    state.swap(next);
    if (state.empty()) break;
  }
  return state;
}

}  // namespace

bool grammar_accepts(const Grammar& grammar, std::string_view text) {
  Automaton automaton(grammar);
  StackArena arena(automaton);
  const std::vector<StackId> state = run(arena, arena.initial_state(), text);
  return std::binary_search(state.begin(), state.end(), kAccept);
}

bool grammar_accepts_prefix(const Grammar& grammar, std::string_view text) {
  Automaton automaton(grammar);
  StackArena arena(automaton);
  return !run(arena, arena.initial_state(), text).empty();
}

}  // namespace kiln::structured
