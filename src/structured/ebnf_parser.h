// Grammars written by users: llama.cpp's GBNF and the Lark-style EBNF that vLLM's
// `grammar` / `guided_grammar` field accepts, parsed into a byte-level Grammar.
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// GBNF: `name ::= alternatives`, rule `root` is the start; "literals" with escapes,
// [classes] (with ^, ranges, \x \u escapes), ( ) groups, | * + ? {m} {m,} {m,n}, comments
// (#), the `.` any-character. Errors name the line and column.
StatusOr<Grammar> grammar_from_gbnf(std::string_view text);

// Lark EBNF: `rule: alternatives` and `TERMINAL: ...`, start rule `start`, "literal"
// strings (with the i flag refused), /regex/ terminals (through compile_regex), [optional],
// ( ) groups, | * + ? and `~ n` / `~ n..m` repetition, `%ignore` refused with an error
// (ignored whitespace cannot be enforced byte-exactly), `%import common.X` for the common
// terminals (WS, NUMBER, INT, SIGNED_NUMBER, ESCAPED_STRING, CNAME, WORD, LETTER, DIGIT,
// NEWLINE ...). Errors name the line and column.
StatusOr<Grammar> grammar_from_lark(std::string_view text);

// Picks the dialect: GBNF if the text has a `::=` rule, else Lark.
StatusOr<Grammar> grammar_from_ebnf(std::string_view text);

}  // namespace kiln::structured
