// Whole-text checks of a Grammar against the plain automaton (no vocabulary): what the
// compilers' tests and the masks' brute-force oracle use.
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// True when the whole of `text` is a complete match of the grammar.
bool grammar_accepts(const Grammar& grammar, std::string_view text);
// True when `text` can be extended to a complete match (a prefix of some match).
bool grammar_accepts_prefix(const Grammar& grammar, std::string_view text);

}  // namespace kiln::structured
