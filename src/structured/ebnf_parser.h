// Grammars written by users: llama.cpp's GBNF and the Lark-style EBNF that vLLM's
// `grammar` / `guided_grammar` field accepts, parsed into a byte-level Grammar.
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// GBNF: `name ::= alternatives`, rule `root` is the start; "literals", [classes] (with ^
// and ranges), ( ) groups, | * + ? {m} {m,} {,n} {m,n}, # comments, the `.` any-character.
// Escapes in literals and classes: \n \t \r \f \v \0 \\ \" \' \[ \] \- \^ \/ and \xHH
// \uHHHH \UHHHHHHHH, which (as in llama.cpp) name code points: "\xe9" is the two bytes of é.
// Newlines are plain whitespace (a superset of llama.cpp's rules): a rule ends where the
// next `name ::=` starts. Errors name the line and column.
StatusOr<Grammar> grammar_from_gbnf(std::string_view text);

// Lark EBNF: `rule: alternatives` and `TERMINAL: ...` (with ?/! prefixes and .priority
// accepted and ignored, as are `-> alias`es), start rule `start`, "literal" strings (the i
// flag refused), "a".."z" ranges, /regex/ terminals (through compile_regex; flags refused),
// [optional], ( ) groups, | * + ? and `~ n` / `~ n..m` repetition, // and # comments, a
// definition continuing on lines that do not start a new one. `%import common.X`, `common.X
// -> Y` and `common (X, Y)` for the terminals of Lark's common.lark (DIGIT, HEXDIGIT, INT,
// SIGNED_INT, DECIMAL, FLOAT, SIGNED_FLOAT, NUMBER, SIGNED_NUMBER, LETTER, LCASE_LETTER,
// UCASE_LETTER, WORD, CNAME, WS, WS_INLINE, CR, LF, NEWLINE, ESCAPED_STRING, _STRING_INNER,
// SH_COMMENT, CPP_COMMENT, C_COMMENT ...). Refused: %ignore (the output is matched byte
// for byte: the whitespace it may contain has to be written into the rules), %declare and
// the other directives, templates. Errors name the line and column.
StatusOr<Grammar> grammar_from_lark(std::string_view text);

// Both dialects: limits as compile_regex's (counts up to 1000, their sum up to 100000,
// nesting up to 200). An undefined name, a name defined twice or a missing start rule is an
// error; left recursion is GrammarBuilder::build's error, passed through.

// Picks the dialect: GBNF if the text has a `::=` rule, else Lark.
StatusOr<Grammar> grammar_from_ebnf(std::string_view text);

}  // namespace kiln::structured
