#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "structured/grammar.h"
#include "structured/matcher.h"
#include "structured/regex_compiler.h"
#include "structured_language_check.h"

namespace kiln::structured {
namespace {

// The pattern compiles, fullmatches every string in `yes` and none in `no`.
void expect_language(std::string_view pattern, const std::vector<std::string>& yes,
                     const std::vector<std::string>& no) {
  SCOPED_TRACE("pattern: " + std::string(pattern.substr(0, 300)));
  StatusOr<Grammar> g = grammar_from_regex(pattern);
  ASSERT_TRUE(g.ok()) << g.message();
  for (const std::string& s : yes) EXPECT_TRUE(grammar_accepts(*g, s)) << "should match: " << s;
  for (const std::string& s : no) EXPECT_FALSE(grammar_accepts(*g, s)) << "should not match: " << s;
}

// The pattern is refused with a message holding `fragment` (position and construct).
void expect_error(std::string_view pattern, std::string_view fragment) {
  SCOPED_TRACE("pattern: " + std::string(pattern.substr(0, 300)));
  StatusOr<Grammar> g = grammar_from_regex(pattern);
  ASSERT_FALSE(g.ok()) << "compiled, expected an error with: " << fragment;
  EXPECT_NE(g.message().find(fragment), std::string::npos) << g.message();
}

TEST(StructuredRegex, Literals) {
  expect_language("abc", {"abc"}, {"", "ab", "abcd", "abd", "xabc"});
  expect_language("", {""}, {"a"});
  expect_language("héllo", {"héllo"}, {"hello", "h\xC3llo"});
}

TEST(StructuredRegex, AnchorsAtTheEndsAreIgnored) {
  expect_language("^abc$", {"abc"}, {"", "abcabc", "abc\n"});
  expect_language("^a|^b$", {"a", "b"}, {"ab", ""});
  expect_language("(?:^a|b)c", {"ac", "bc"}, {"c"});
  expect_language("a(?:b|c$)", {"ab", "ac"}, {"a"});
  expect_language("\\Aab\\Z", {"ab"}, {"a"});
}

TEST(StructuredRegex, Escapes) {
  expect_language("\\n\\t\\r\\f\\v\\0", {std::string("\n\t\r\f\v\0", 6)}, {"ntrfv0"});
  expect_language("\\x41\\u00e9\\U0001F600", {"Aé😀"}, {"A", "x41"});
  expect_language("\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\^\\$\\/\\-", {".*+?()[]{}|\\^$/-"},
                  {"a"});
  // A JavaScript-style surrogate pair is one astral code point.
  expect_language("\\uD83D\\uDE00", {"😀"}, {"\xED\xA0\xBD\xED\xB8\x80"});
  expect_language("a\\é", {"aé"}, {"a"});
}

TEST(StructuredRegex, Shorthands) {
  expect_language("\\d+", {"0", "0123456789"}, {"", "a", "٣"});  // ASCII digits only
  expect_language("\\w+", {"az_AZ09"}, {"-", "é", " "});
  expect_language("\\s", {" ", "\t", "\n", "\r", "\f", "\v"}, {"a", "\xC2\xA0"});
  expect_language("\\D", {"a", "é", "😀", "\n"}, {"5", "\xC3", ""});
  expect_language("\\W", {"-", "é"}, {"a", "_", "7"});
  expect_language("\\S", {"a", "é"}, {" ", "\n"});
}

TEST(StructuredRegex, Classes) {
  expect_language("[a-c]+", {"a", "abcab"}, {"", "abd", "A"});
  expect_language("[abc-]", {"a", "-"}, {"b-"});
  expect_language("[-a]", {"-", "a"}, {"b"});
  expect_language("[]a]", {"]", "a"}, {"b"});
  expect_language("[\\]\\\\\\-]", {"]", "\\", "-"}, {"a"});
  expect_language("[\\d\\s_]+", {"1 _\t2"}, {"a"});
  expect_language("[\\x41-\\x43]", {"A", "C"}, {"D"});
  expect_language("[\\b]", {"\b"}, {"b"});  // backspace inside a class, as in Python
  expect_language("[.]", {"."}, {"a"});
  expect_language("[\\D]", {"a", "é"}, {"1"});
}

TEST(StructuredRegex, NegatedClassesMatchWholeCodePoints) {
  expect_language("[^a-c]", {"d", "\n", "é", "😀", "\x7F"}, {"a", "", "dd", "\xC3", "\xA9"});
  expect_language("[^\"\\\\]*", {"", "abc", "ü€😀"}, {"\"", "a\\b", "\xFF", "\xC3\x28"});
  expect_language("[^\\d]", {"a", "é"}, {"1"});
  StatusOr<Grammar> g = grammar_from_regex("[^a]");
  ASSERT_TRUE(g.ok()) << g.message();
  // A lone lead byte is a prefix of a match, not a match.
  EXPECT_TRUE(grammar_accepts_prefix(*g, "\xC3"));
  EXPECT_FALSE(grammar_accepts(*g, "\xC3"));
  EXPECT_FALSE(grammar_accepts_prefix(*g, "\x80"));  // a continuation byte cannot start one
}

TEST(StructuredRegex, NonAsciiClasses) {
  expect_language("[α-ω]+", {"α", "αβγ", "ω"}, {"", "Α", "a", "αa", "\xCE"});
  expect_language("[é😀]", {"é", "😀"}, {"e", "\xF0\x9F\x98"});
  StatusOr<Grammar> g = grammar_from_regex("[α-ω]+");
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(grammar_accepts_prefix(*g, "αβ\xCE"));
  EXPECT_FALSE(grammar_accepts_prefix(*g, "αβ\xCF\xCF"));
}

TEST(StructuredRegex, DotIsAnyCodePointButNewline) {
  expect_language(".", {"a", "é", "€", "😀", "\r", std::string("\0", 1)},
                  {"", "\n", "ab",
                   "\xFF",              // never a UTF-8 byte
                   "\xC3",              // truncated
                   "\xC0\x80",          // overlong NUL
                   "\xED\xA0\x80",      // an encoded surrogate
                   "\xF4\x90\x80\x80",  // above U+10FFFF
                   "\x80"});
  expect_language("a.c", {"abc", "aéc"}, {"ac", "a\nc"});
}

TEST(StructuredRegex, Groups) {
  expect_language("(ab)+", {"ab", "abab"}, {"", "a", "aba"});
  expect_language("(?:ab|cd)*e", {"e", "abcde", "cdcde"}, {"abe e", "ace"});
  expect_language("(?P<year>\\d{4})-(?<month>\\d{2})", {"2024-05"}, {"24-05", "2024-5"});
  expect_language("((a)(b(c)))", {"abc"}, {"ab"});
  expect_language("()a", {"a"}, {""});
  expect_language("a(?#a comment)b", {"ab"}, {"a"});
}

TEST(StructuredRegex, Alternation) {
  expect_language("cat|dog|", {"cat", "dog", ""}, {"catdog", "ca"});
  expect_language("a(b|)c", {"ac", "abc"}, {"abbc"});
  expect_language("a|b|c", {"a", "b", "c"}, {"ab"});
}

TEST(StructuredRegex, Quantifiers) {
  expect_language("a*", {"", "a", "aaaa"}, {"b", "ab"});
  expect_language("a+", {"a", "aaa"}, {""});
  expect_language("ab?c", {"ac", "abc"}, {"abbc"});
  expect_language("a{3}", {"aaa"}, {"aa", "aaaa"});
  expect_language("a{2,}", {"aa", "aaaaaa"}, {"a"});
  expect_language("a{2,4}", {"aa", "aaa", "aaaa"}, {"a", "aaaaa"});
  expect_language("a{,2}", {"", "a", "aa"}, {"aaa"});
  expect_language("a{0}b", {"b"}, {"ab"});
  expect_language("é{2}", {"éé"}, {"é", "é\xA9"});  // the whole code point repeats
  expect_language("(ab){1,2}c", {"abc", "ababc"}, {"c", "abababc"});
}

TEST(StructuredRegex, LazyQuantifiersMatchTheSameStrings) {
  expect_language("a*?b", {"b", "aab"}, {"a"});
  expect_language("a+?", {"a", "aa"}, {""});
  expect_language("a??", {"", "a"}, {"aa"});
  expect_language("a{2,3}?", {"aa", "aaa"}, {"a", "aaaa"});
}

TEST(StructuredRegex, LiteralBraces) {
  expect_language("a{", {"a{"}, {"a"});
  expect_language("{}", {"{}"}, {""});
  expect_language("a{x}", {"a{x}"}, {"a"});
  expect_language("}", {"}"}, {""});
}

TEST(StructuredRegex, RepeatedGroupsThatCanMatchEmpty) {
  // Each would be a rule reaching itself without consuming a byte if lowered as written.
  expect_language("(a?)*", {"", "a", "aaa"}, {"b"});
  expect_language("(a*b*)*c", {"c", "abc", "bbac", "aabbabc"}, {"ca"});
  expect_language("(|x)+", {"", "x", "xx"}, {"y"});
  expect_language("(a?b?){2,}", {"", "ab", "ba", "abab"}, {"c"});
  expect_language("((a?)*)*", {"", "aa"}, {"b"});
}

// The pattern compiles and its language is std::regex's for the same pattern.
void expect_same_language_as_std_regex(const std::string& pattern) {
  SCOPED_TRACE("pattern: " + pattern);
  StatusOr<Grammar> g = grammar_from_regex(pattern);
  ASSERT_TRUE(g.ok()) << g.message();
  expect_language_of_regex(*g, pattern);
}

TEST(StructuredRegex, BoundedRepeatsOfGroupsThatCanMatchEmpty) {
  // Lowered as body'{0,max}, body' the body's non-empty matches; the counts must survive.
  for (const char* pattern :
       {"(a?b?){2,3}", "(a|b*){0,3}", "(a?){2}", "((ab)?c?){1,2}", "(a*|b){0,2}c", "(a?b?c?){0,2}",
        "(){0,5}a", "(a?){3,5}b?", "((a?b?){0,2}c?){1,2}", "(a|(bc)*){2,4}", "(a{0,2}b{0,1}){1,2}"})
    expect_same_language_as_std_regex(pattern);
}

TEST(StructuredRegex, LongBoundedRepeatOfAGroupThatCanMatchEmptyStaysSmall) {
  StatusOr<Grammar> g = grammar_from_regex("\"(a|b*){0,400}");
  ASSERT_TRUE(g.ok()) << g.message();
  expect_few_paths_in_a_long_nullable_repeat(*g);
}

TEST(StructuredRegex, LargeBoundedRepeat) {
  StatusOr<Grammar> g = grammar_from_regex("x{0,1000}");
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(grammar_accepts(*g, ""));
  EXPECT_TRUE(grammar_accepts(*g, std::string(1000, 'x')));
  EXPECT_FALSE(grammar_accepts(*g, std::string(1001, 'x')));
  expect_language("(ab){1000}", {[] {
                    std::string s;
                    for (int i = 0; i < 1000; ++i) s += "ab";
                    return s;
                  }()},
                  {"ab"});
}

TEST(StructuredRegex, RealWorldPatterns) {
  expect_language("^\\d{3}-\\d{3}-\\d{4}$", {"555-123-4567"}, {"5551234567", "555-123-456"});
  expect_language("^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
                  {"john.doe@example.com", "a+b@x.io"}, {"john@", "@x.io", "a@b.c"});
  expect_language("^(\\d{1,3}\\.){3}\\d{1,3}$", {"192.168.0.1"}, {"192.168.0", "1.2.3.4.5"});
  expect_language("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                  {"123e4567-e89b-12d3-a456-426614174000"},
                  {"123e4567-e89b-12d3-a456-42661417400"});
  expect_language("-?(0|[1-9]\\d*)(\\.\\d+)?([eE][+-]?\\d+)?", {"0", "-12.5e+3", "7E2"},
                  {"01", "1.", "+1", "-"});
}

TEST(StructuredRegex, PrefixOfAMatch) {
  StatusOr<Grammar> g = grammar_from_regex("(cat|dog)s?");
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(grammar_accepts_prefix(*g, ""));
  EXPECT_TRUE(grammar_accepts_prefix(*g, "ca"));
  EXPECT_TRUE(grammar_accepts_prefix(*g, "dogs"));
  EXPECT_FALSE(grammar_accepts_prefix(*g, "cow"));
  EXPECT_FALSE(grammar_accepts_prefix(*g, "dogss"));
}

TEST(StructuredRegex, UnsupportedConstructsNameThePosition) {
  expect_error("ab(?=c)", "position 2: lookahead is not supported");
  expect_error("(?!c)", "position 0: lookahead is not supported");
  expect_error("a(?<=b)", "position 1: lookbehind is not supported");
  expect_error("a(?<!b)", "position 1: lookbehind is not supported");
  expect_error("(a)\\1", "position 3: backreferences are not supported");
  expect_error("(?P<n>a)(?P=n)", "position 8: backreferences are not supported");
  expect_error("(?<n>a)\\k<n>", "position 7: backreferences are not supported");
  expect_error("a\\bc", "position 1: word boundary \\b is not supported");
  expect_error("a\\B", "position 1: \\B");
  expect_error("a^b", "position 1: anchor ^ is only supported at the start");
  expect_error("a$b", "position 1: anchor $ is only supported at the end");
  expect_error("(a$)b", "position 2: anchor $ is only supported at the end");
  expect_error("(^a)*", "position 4: a group holding an anchor cannot be repeated");
  expect_error("a*+", "position 2: possessive quantifiers are not supported");
  expect_error("a{2}+", "position 4: possessive quantifiers are not supported");
  expect_error("(?i)abc", "position 0: case-insensitive matching (?i) is not supported");
  expect_error("(?mi)abc", "position 0: case-insensitive");
  expect_error("(?s)a", "position 0: inline flags are not supported");
  expect_error("(?>a)", "position 0: atomic groups are not supported");
  expect_error("\\p{L}", "position 0: Unicode property escapes are not supported");
  expect_error("[[:alpha:]]", "position 1: POSIX classes");
}

TEST(StructuredRegex, MalformedPatternsNameThePosition) {
  expect_error("(ab", "position 0: missing ), unterminated group");
  expect_error("a(b(c)", "position 1: missing )");
  expect_error("ab)", "position 2: unbalanced parenthesis");
  expect_error("[z-a]", "position 1: bad character range z-a");
  expect_error("[\\d-z]", "position 1: bad character range");
  expect_error("[abc", "position 0: unterminated character class");
  expect_error("a{5,2}", "position 1: bad repetition: minimum 5 is above maximum 2");
  expect_error("a{1001}", "position 1: repetition count above the limit of 1000");
  expect_error("a{0,99999999999999}", "position 1: repetition count above the limit");
  expect_error("*a", "position 0: nothing to repeat");
  expect_error("a|?", "position 2: nothing to repeat");
  expect_error("a**", "position 2: multiple repeat");
  expect_error("\\q", "position 0: bad escape \\q");
  expect_error("ab\\", "position 2: the pattern ends with a backslash");
  expect_error("\\x4", "position 0: incomplete hex escape");
  expect_error("\\uD800", "position 0: a lone surrogate");
  expect_error("\\U00110000", "position 0: code point above U+10FFFF");
  expect_error("a\xFF", "position 1: invalid UTF-8 in the pattern");
  expect_error("(?P<1>a)", "position 0: bad group name");
  expect_error("(?Xa)", "position 0: unknown group extension");
}

TEST(StructuredRegex, HostileInputFailsCleanly) {
  // Deep nesting is an error, not a stack overflow.
  expect_error(std::string(100000, '(') + "a" + std::string(100000, ')'),
               "position 200: groups nested more than 200 deep");
  const std::string deep = std::string(200, '(') + "a" + std::string(200, ')');
  expect_language(deep, {"a"}, {""});
  // Repetition counts that would lower to millions of elements.
  std::string many;
  for (int i = 0; i < 101; ++i) many += "a{1000}";
  expect_error(many, "repetition counts add up to more than 100000");
}

TEST(StructuredRegex, CompileRegexGivesAnExprToEmbed) {
  GrammarBuilder builder;
  StatusOr<Expr> digits = compile_regex("[0-9]+", builder);
  ASSERT_TRUE(digits.ok()) << digits.message();
  const uint32_t root =
      builder.add("root", Expr::seq({Expr::literal("n="), std::move(*digits), Expr::literal(";")}));
  StatusOr<Grammar> g = builder.build(root);
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_TRUE(grammar_accepts(*g, "n=42;"));
  EXPECT_FALSE(grammar_accepts(*g, "n=;"));
  StatusOr<Expr> bad = compile_regex("(?=x)", builder);
  EXPECT_FALSE(bad.ok());
}

}  // namespace
}  // namespace kiln::structured
