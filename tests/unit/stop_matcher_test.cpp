#include "engine/stop_matcher.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln {
namespace {

struct Outcome {
  std::string text;  // everything emitted, flush included when not stopped
  std::string stop;  // the stop string that matched; empty when none did
  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "{\"" << o.text << "\", stop \"" << o.stop << "\"}";
}

Outcome run(const std::vector<std::string>& stops, const std::vector<std::string>& deltas,
            bool include = false) {
  StopMatcher m(stops, include);
  Outcome o;
  for (const std::string& d : deltas) {
    const StopMatcher::Result r = m.push(d);
    o.text += r.emit;
    if (r.stopped) {
      o.stop = r.stop;
      EXPECT_FALSE(o.stop.empty());
      return o;
    }
  }
  o.text += m.flush();
  return o;
}

// Every way to cut `text` into two and three deltas gives `expected`.
void expect_split_invariant(const std::vector<std::string>& stops, const std::string& text,
                            const Outcome& expected, bool include = false) {
  EXPECT_EQ(run(stops, {text}, include), expected) << "whole";
  for (size_t i = 0; i <= text.size(); ++i) {
    EXPECT_EQ(run(stops, {text.substr(0, i), text.substr(i)}, include), expected) << "cut " << i;
    for (size_t j = i; j <= text.size(); ++j)
      EXPECT_EQ(run(stops, {text.substr(0, i), text.substr(i, j - i), text.substr(j)}, include),
                expected)
          << "cuts " << i << " " << j;
  }
  std::vector<std::string> bytes;
  for (char c : text) bytes.push_back(std::string(1, c));
  EXPECT_EQ(run(stops, bytes, include), expected) << "byte by byte";
}

TEST(StopMatcher, NoStopStringsPassesEverythingThrough) {
  StopMatcher m({}, false);
  EXPECT_EQ(m.push("hello").emit, "hello");
  EXPECT_EQ(m.push("").emit, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopInsideOneDelta) {
  StopMatcher m({"END"}, false);
  const auto r = m.push("abcENDdef");
  EXPECT_EQ(r.emit, "abc");
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(m.stopped());
  const auto after = m.push("more");  // stays stopped, emits nothing
  EXPECT_TRUE(after.stopped);
  EXPECT_EQ(after.emit, "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopSpanningDeltasAtEveryCut) {
  expect_split_invariant({"\n\nUser:"}, "Hi there.\n\nUser: more", {"Hi there.", "\n\nUser:"});
  expect_split_invariant({"END"}, "abcENDdef", {"abc", "END"});
  expect_split_invariant({"END"}, "END", {"", "END"});
}

TEST(StopMatcher, HoldsBackOnlyAPossibleStart) {
  StopMatcher m({"END"}, false);
  EXPECT_EQ(m.push("abcE").emit, "abc");  // "E" may start "END"
  EXPECT_EQ(m.push("N").emit, "");
  const auto r = m.push("D!");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, FalseStartIsEmittedOnceRuledOut) {
  StopMatcher f({"END"}, false);
  EXPECT_EQ(f.push("xEN").emit, "x");
  EXPECT_EQ(f.push("d").emit, "ENd");
  EXPECT_EQ(f.push("E").emit, "");
  EXPECT_EQ(f.push("E").emit, "E");  // "EE": the first E can no longer start "END"
  EXPECT_EQ(f.flush(), "E");
  expect_split_invariant({"END"}, "xENdEEND?", {"xENdE", "END"});
  expect_split_invariant({"END"}, "ENENEND", {"ENEN", "END"});
  expect_split_invariant({"END"}, "no stop, EN", {"no stop, EN", ""});
}

TEST(StopMatcher, OverlappingStopStringsEarliestWins) {
  const std::vector<std::string> stops = {"bc", "ab", "aab"};
  expect_split_invariant(stops, "xabc", {"x", "ab"});   // "ab" completes first
  expect_split_invariant(stops, "xaabc", {"x", "aab"});  // "aab" and "ab" end together
  expect_split_invariant(stops, "xbcab", {"x", "bc"});
  expect_split_invariant(stops, "xaac", {"xaac", ""});
  expect_split_invariant({"aab"}, "aaab", {"a", "aab"});  // the match starts after a false start
  expect_split_invariant({"abab"}, "ababab", {"", "abab"});
  expect_split_invariant({"abcd", "bc"}, "xabcd", {"xa", "bc"});  // inner one completes first
  // Same end: the one starting first is cut at, whatever the list order.
  expect_split_invariant({"b", "ab"}, "xab", {"x", "ab"});
  expect_split_invariant({"ab", "b"}, "xab", {"xab", "ab"}, /*include=*/true);
}

TEST(StopMatcher, IncludeStopStringInOutput) {
  expect_split_invariant({"END"}, "abcENDdef", {"abcEND", "END"}, /*include=*/true);
  expect_split_invariant({"bc", "ab"}, "xabc", {"xab", "ab"}, /*include=*/true);
  StopMatcher m({"END"}, true);
  EXPECT_EQ(m.push("aEN").emit, "a");  // still held back: it might not be a stop
  const auto r = m.push("Dz");
  EXPECT_EQ(r.emit, "END");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, FlushReturnsTheHeldBackText) {
  StopMatcher m({"</s>", "###"}, false);
  EXPECT_EQ(m.push("answer <").emit, "answer ");
  EXPECT_EQ(m.push("/").emit, "");
  EXPECT_EQ(m.flush(), "</");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EmptyDeltas) {
  StopMatcher m({"ab"}, false);
  EXPECT_EQ(m.push("").emit, "");
  EXPECT_EQ(m.push("a").emit, "");
  const auto r = m.push("");
  EXPECT_EQ(r.emit, "");
  EXPECT_FALSE(r.stopped);
  EXPECT_TRUE(m.push("b").stopped);
  expect_split_invariant({"ab"}, "", {"", ""});
}

TEST(StopMatcher, MultiByteUtf8) {
  // "é" is C3 A9, "日本" E6 97 A5 E6 9C AC; a stop string sharing a lead byte with the text.
  expect_split_invariant({"本。"}, "日本語です。日本。後", {"日本語です。日", "本。"});
  expect_split_invariant({"é!"}, "café é?", {"café é?", ""});
  expect_split_invariant({"😀"}, "ok 😀 no", {"ok ", "😀"});
  // Deltas of whole characters: what is held back is whole characters too.
  StopMatcher m({"日本。"}, false);
  EXPECT_EQ(m.push("は日").emit, "は");
  EXPECT_EQ(m.push("本").emit, "");
  EXPECT_EQ(m.push("語").emit, "日本語");
}

}  // namespace
}  // namespace kiln
