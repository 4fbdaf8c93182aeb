// Free text that never contains a given marker, as a grammar expression: what a model may
// write before a tool call in `tool_choice: auto` (the text must not open a call by
// accident, and when it does open one the call is constrained).
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// Any byte string (UTF-8 or not, possibly empty) in which `marker` does not occur as a
// substring. Lowered to one rule per state of the Knuth-Morris-Pratt automaton of `marker`
// (state k: the text so far ends with the first k bytes of the marker and contains no
// whole marker); each rule ends the text or consumes one byte and continues in the next
// state's rule, so the matcher runs it as a deterministic automaton with constant stack
// depth (the references are tail calls). `marker` must not be empty.
//
// NOTE: followed by the marker itself (`text_without(m) m ...`), the first occurrence of
// the marker in the whole text is the appended one only when the marker has no border (no
// proper prefix that is also its suffix, as in "<tool_call>" or "[TOOL_CALLS]"): with a
// border ("abab"), the text may end in "ab" and "ab" + "abab" holds the marker earlier.
Expr text_without(GrammarBuilder& builder, std::string_view marker);

}  // namespace kiln::structured
