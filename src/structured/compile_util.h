// Helpers shared by the compilers that read text written by users (regex_compiler.cpp,
// ebnf_parser.cpp): decoding the source's UTF-8, escapes' hex digits, code point classes,
// and a repetition that the grammar builder can always lower.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "structured/grammar.h"

// In a namespace of their own: the other compilers keep same-named helpers file-local.
namespace kiln::structured::detail {

// Limits for user-written sources, so hostile input fails with an error instead of
// exhausting memory or the stack.
inline constexpr int32_t kMaxRepeatCount = 1000;  // n and m in {n,m}, ~ n..m
inline constexpr int kMaxNesting = 200;           // ( ) [ ] groups inside each other
// The sum of repetition counts in one pattern or grammar: bounded repeats lower to about
// that many elements and helper rules.
inline constexpr int64_t kMaxRepeatTotal = 100000;

// Decodes the well-formed UTF-8 code point at s[pos] (no overlong forms, no surrogates,
// nothing above U+10FFFF) into *cp and returns its length in bytes; 0 when malformed.
size_t decode_utf8(std::string_view s, size_t pos, uint32_t* cp);

// 0..15 for a hex digit, else -1.
int hex_digit(char c);

// The code points U+0000..U+10FFFF not in `ranges` (which need not be sorted).
CodepointRanges complement(CodepointRanges ranges);

// The UTF-8 bytes of one code point.
Expr codepoint_literal(uint32_t cp);

// Expr::repeat, except that an unbounded repeat of a body that can match "" (like (a?)*)
// is rewritten to an equal star of a body that cannot, and that takes away the ambiguity of
// splitting a run between its pieces: (a?a?a?)* becomes (a|a|a)*. Bodies that refer to
// rules, and bounded repeats, are left to GrammarBuilder::build, which knows which rules
// can match "" and rewrites every repeat of such a body over its non-empty matches.
Expr repeat_expr(Expr body, int32_t min, int32_t max);

// What the repetitions in e cost once lowered: the sum of their counts (the larger one, or
// min + 1 when unbounded), to hold against kMaxRepeatTotal.
int64_t repeat_cost(const Expr& e);

}  // namespace kiln::structured::detail
