// Regular expressions (the subset JSON Schema's `pattern`, vLLM's `guided_regex` and
// OpenAI-style clients use) compiled to a grammar expression over bytes.
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// Compiles `pattern` as a whole-string match (as Python's re.fullmatch). Supported:
// literals and escapes (\n \t \r \f \v \a \0 \xHH \uHHHH \UHHHHHHHH, a JavaScript
// surrogate pair \uD83D\uDE00 as one code point, and any escaped punctuation), classes
// [...] with ranges, negation and \d \w \s \D \W \S inside, \d \w \s \D \W \S (ASCII
// meanings), `.` (any code point but \n), groups ( ) (?: ) (?P<name> ) (?<name> ) and
// (?#comments), alternation |, quantifiers * + ? {n} {n,} {,m} {n,m} and their lazy forms
// (laziness does not change the language), and the anchors ^ \A $ \Z where fullmatch makes
// them trivially true (^ before anything is consumed, $ after everything). Escapes and
// classes name code points; a negated class, \D \W \S and `.` match whole well-formed
// UTF-8 code points, never a stray byte. A `{` that does not open a quantifier is literal.
// Limits: counts up to 1000, their sum up to 100000, groups nested up to 200 deep.
// Refused with "regex error at position N: ..." (N a 0-based byte offset): backreferences,
// lookaround, atomic groups, conditionals, inline flags ((?i) among them), \b \B, Unicode
// properties, anchors elsewhere, possessive quantifiers, and anything malformed.
// `builder` is unused today (a regular language needs no rules of its own).
StatusOr<Expr> compile_regex(std::string_view pattern, GrammarBuilder& builder);

// A whole grammar accepting exactly the strings the pattern fullmatches.
StatusOr<Grammar> grammar_from_regex(std::string_view pattern);

}  // namespace kiln::structured
