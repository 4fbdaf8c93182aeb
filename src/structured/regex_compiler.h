// Regular expressions (the subset JSON Schema's `pattern`, vLLM's `guided_regex` and
// OpenAI-style clients use) compiled to a grammar expression over bytes.
#pragma once

#include <string_view>

#include "structured/grammar.h"

namespace kiln::structured {

// Compiles `pattern` as a whole-string match (as Python's re.fullmatch). Supported:
// literals and escapes (\n \t \r \f \v \0 \xHH \uHHHH \\ and escaped metacharacters),
// classes [...] with ranges and negation, \d \w \s \D \W \S (ASCII meanings), `.` (any
// code point but \n), groups ( ) (?: ) (?P<name> ) (?<name> ), alternation |, quantifiers * + ? {n}
// {n,} {n,m} and their lazy forms (laziness does not change the language), anchors ^ and $ at the
// ends of the pattern. Code points outside ASCII are matched as UTF-8. Refused with an error naming
// the position (0-based byte offset) and the construct: backreferences, lookaround, anchors inside
// the pattern, \b, possessive quantifiers, and anything malformed.
StatusOr<Expr> compile_regex(std::string_view pattern, GrammarBuilder& builder);

// A whole grammar accepting exactly the strings the pattern fullmatches.
StatusOr<Grammar> grammar_from_regex(std::string_view pattern);

}  // namespace kiln::structured
