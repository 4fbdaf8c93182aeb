// A grammar's language checked against std::regex (ECMAScript, an independent
// implementation) on every short string over {a, b, c}: enough to tell repeat counts and
// empty matches apart. For the structured-output compilers' tests.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "structured/automaton.h"
#include "structured/grammar.h"
#include "structured/matcher.h"

namespace kiln::structured {

// Every string over {a, b, c} of up to max_len bytes, "" first.
inline std::vector<std::string> strings_over_abc(size_t max_len) {
  std::vector<std::string> strings = {""};
  for (size_t begin = 0, len = 1; len <= max_len; ++len) {
    const size_t end = strings.size();
    for (size_t i = begin; i < end; ++i)
      for (char c : {'a', 'b', 'c'}) strings.push_back(strings[i] + c);
    begin = end;
  }
  return strings;
}

// The grammar accepts exactly the strings (up to 6 bytes) that `regex` fullmatches.
inline void expect_language_of_regex(const Grammar& g, const std::string& regex) {
  const std::regex reference(regex, std::regex::ECMAScript);
  for (const std::string& s : strings_over_abc(6))
    ASSERT_EQ(grammar_accepts(g, s), std::regex_match(s, reference)) << "on '" << s << "'";
}

// How many parse paths (stacks) the automaton holds after `text`; 0 when it is refused.
inline size_t paths_after(const Grammar& g, std::string_view text) {
  const Automaton automaton(g);
  StackArena arena(automaton);
  return arena.run(arena.initial_state(), text).size();
}

// For a grammar of `"` then up to 400 copies of (a | b*), in any front end's spelling:
// lowered as written, each copy could be skipped without a byte, and in a run of b's a
// parse held a path for nearly every copy (a fuzzer's slow input: seconds per token mask).
// With non-empty copies the paths stay few, and the count of copies is kept.
inline void expect_few_paths_in_a_long_nullable_repeat(const Grammar& g) {
  const size_t paths = paths_after(g, "\"bbb");
  EXPECT_GT(paths, 0u);
  EXPECT_LT(paths, 16u);
  EXPECT_TRUE(grammar_accepts(g, "\"" + std::string(400, 'a')));
  EXPECT_FALSE(grammar_accepts(g, "\"" + std::string(401, 'a')));
  EXPECT_TRUE(grammar_accepts(g, "\"" + std::string(2000, 'b')));
}

}  // namespace kiln::structured
