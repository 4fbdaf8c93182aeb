// The token masks against a brute-force oracle: for every token, feed prefix + token bytes
// to the plain automaton (grammar_accepts_prefix), with no trie and no precomputed
// classes. Random walks through a JSON-like grammar reach many stack shapes.
#include <gtest/gtest.h>

#include <random>

#include "structured/automaton.h"
#include "structured/grammar.h"
#include "structured/grammar_matcher.h"
#include "structured/matcher.h"

namespace kiln::structured {
namespace {

// value ::= object | array | string | number | "true" | "null"; compact JSON.
Grammar json_like() {
  GrammarBuilder b;
  const uint32_t value = b.declare("value");
  const Expr str_char = Expr::alt({utf8_class({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}}),
                                   Expr::seq({Expr::byte('\\'), Expr::byte_set([] {
                                                ByteSet s;
                                                for (char c : std::string("\"\\/bfnrt"))
                                                  s.add((uint8_t)c);
                                                return s;
                                              }())})});
  const uint32_t string =
      b.add("string", Expr::seq({Expr::byte('"'), Expr::star(str_char), Expr::byte('"')}));
  const Expr digits = Expr::plus(Expr::byte_set(ByteSet::range('0', '9')));
  const uint32_t number =
      b.add("number", Expr::seq({Expr::optional(Expr::byte('-')), digits,
                                 Expr::optional(Expr::seq({Expr::byte('.'), digits}))}));
  const Expr member = Expr::seq({Expr::ref(string), Expr::byte(':'), Expr::ref(value)});
  const uint32_t object =
      b.add("object", Expr::seq({Expr::byte('{'),
                                 Expr::optional(Expr::seq(
                                     {member, Expr::star(Expr::seq({Expr::byte(','), member}))})),
                                 Expr::byte('}')}));
  const uint32_t array =
      b.add("array", Expr::seq({Expr::byte('['),
                                Expr::optional(Expr::seq(
                                    {Expr::ref(value),
                                     Expr::star(Expr::seq({Expr::byte(','), Expr::ref(value)}))})),
                                Expr::byte(']')}));
  b.define(value, Expr::alt({Expr::ref(object), Expr::ref(array), Expr::ref(string),
                             Expr::ref(number), Expr::literal("true"), Expr::literal("null")}));
  auto g = b.build(value);
  EXPECT_TRUE(g.ok()) << g.message();
  return std::move(g).value();
}

// Every single byte, plus random strings over JSON's structural characters, letters,
// digits, escapes and multi-byte UTF-8 pieces (whole and split).
std::shared_ptr<const TokenVocabulary> test_vocab(uint32_t seed, int num_random) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, (char)b));
  const std::vector<std::string> pieces = {
      "{",  "}", "[", "]", "\"", ":", ",", "a", "b", "z",    "0",    "1", "9",    "-",   ".",
      "\\", "n", "t", "r", "u",  "e", "l", " ", "é", "\xCE", "\xB1", "😀", "true", "null"};
  std::mt19937 rng(seed);
  for (int i = 0; i < num_random; ++i) {
    std::string t;
    const int len = 1 + (int)(rng() % 5);
    for (int k = 0; k < len; ++k) t += pieces[rng() % pieces.size()];
    tokens.push_back(t);
  }
  tokens.push_back("");  // a control token: no bytes
  tokens.push_back("");  // the end token
  const int32_t eos = (int32_t)tokens.size() - 1;
  return std::make_shared<TokenVocabulary>(std::move(tokens), std::vector<int32_t>{eos},
                                           (int32_t)tokens.size() + 3);
}

// The oracle: its own automaton and arena, the prefix's state, then each token's bytes.
class BruteForce {
 public:
  explicit BruteForce(const Grammar& g) : automaton_(g), arena_(automaton_) {}
  void set_text(const std::string& text) {
    state_ = arena_.initial_state();
    for (unsigned char c : text) step(state_, c);
  }
  bool can_end() const { return std::binary_search(state_.begin(), state_.end(), kAccept); }
  bool allows(std::string_view bytes) {
    std::vector<StackId> s = state_;
    for (unsigned char c : bytes)
      if (!step(s, c)) return false;
    return true;
  }

 private:
  bool step(std::vector<StackId>& s, uint8_t c) {
    std::vector<StackId> next;
    arena_.step_state(s, c, next);
    s.swap(next);
    return !s.empty();
  }
  Automaton automaton_;
  StackArena arena_;
  std::vector<StackId> state_;
};

void check_random_walks(size_t walk_threshold) {
  const Grammar g = json_like();
  auto vocab = test_vocab(7, 3000);
  auto compiled = std::make_shared<const CompiledGrammar>(g, vocab);
  const int32_t eos = vocab->end_tokens()[0];
  std::mt19937 rng(123);
  int checked = 0;
  for (int walk = 0; walk < 12; ++walk) {
    GrammarMatcher m(compiled);
    m.set_walk_threshold(walk_threshold);
    BruteForce oracle(g);
    std::string text;
    TokenMask mask;
    for (int step = 0; step < 40; ++step) {
      m.fill_mask(mask);
      oracle.set_text(text);
      std::vector<int32_t> allowed;
      for (int32_t t = 0; t < vocab->mask_size(); ++t) {
        bool expect;
        if (t == eos)
          expect = oracle.can_end();
        else if (t >= vocab->num_tokens() || vocab->bytes(t).empty())
          expect = false;
        else
          expect = oracle.allows(vocab->bytes(t));
        ASSERT_EQ(mask.test(t), expect)
            << "token " << t << " '" << vocab->bytes(t) << "' after '" << text << "'";
        if (expect) allowed.push_back(t);
        ++checked;
      }
      EXPECT_EQ(m.can_end(), grammar_accepts(g, text));
      ASSERT_FALSE(allowed.empty()) << text;
      // Prefer text tokens so walks go deep; end a walk when only the end is left.
      std::vector<int32_t> text_tokens;
      for (int32_t t : allowed)
        if (t != eos) text_tokens.push_back(t);
      if (text_tokens.empty()) {
        EXPECT_TRUE(m.must_end());
        EXPECT_TRUE(m.accept_token(eos));
        EXPECT_TRUE(m.finished());
        break;
      }
      const int32_t pick = text_tokens[rng() % text_tokens.size()];
      ASSERT_TRUE(m.accept_token(pick));
      text += vocab->bytes(pick);
    }
  }
  EXPECT_GT(checked, 100000);
}

TEST(StructuredMatcher, MasksEqualBruteForceOnRandomWalks) { check_random_walks(4096); }
// The same with every context-dependent token found by walking the trie from the stack.
TEST(StructuredMatcher, MasksEqualBruteForceWalkingTheTrie) { check_random_walks(0); }

TEST(StructuredMatcher, RefusedTokenLeavesStateUnchanged) {
  auto vocab = test_vocab(1, 100);
  auto compiled = std::make_shared<const CompiledGrammar>(json_like(), vocab);
  GrammarMatcher m(compiled);
  EXPECT_TRUE(m.accept_bytes("{\"a\":"));
  EXPECT_FALSE(m.accept_bytes("}"));
  EXPECT_FALSE(m.accept_token(vocab->end_tokens()[0]));
  EXPECT_TRUE(m.accept_bytes("[1,-2.5]}"));
  EXPECT_TRUE(m.can_end());
  EXPECT_TRUE(m.must_end());
  GrammarMatcher fork(m);
  EXPECT_TRUE(fork.accept_token(vocab->end_tokens()[0]));
  EXPECT_TRUE(fork.finished());
  EXPECT_FALSE(m.finished());
}

// 30,000 optional items in a row: expanding past them must not recurse once per item (it
// overflowed the thread's stack, reachable from a request's regex).
TEST(StructuredMatcher, LongRunsOfOptionalItemsDoNotExhaustTheStack) {
  GrammarBuilder b;
  std::vector<Expr> items;
  for (int i = 0; i < 30000; ++i) items.push_back(Expr::optional(Expr::byte('a')));
  items.push_back(Expr::byte('!'));
  const auto g = b.build(b.add("many", Expr::seq(std::move(items))));
  ASSERT_TRUE(g.ok()) << g.message();
  // (Only inputs without 'a': after an 'a' the state holds every optional item that could
  // have taken it, 30,000 paths, and each next byte costs their square. Ambiguity that
  // wide is quadratic in this engine; this test is about the stack, not about speed.)
  EXPECT_TRUE(grammar_accepts(g.value(), "!"));
  EXPECT_FALSE(grammar_accepts(g.value(), "!!"));
  EXPECT_FALSE(grammar_accepts(g.value(), ""));
}

}  // namespace
// A class's closure: the tokens spelled only with its bytes, and the trie nodes where a path
// first leaves it. Cached for a bounded number of classes, then computed per call.
TEST(TokenVocabulary, ClassClosureIsExactAndItsCacheBounded) {
  TokenVocabulary v({"a", "ab", "b", "ba", "abc", "c", ""}, {6}, 7);
  ByteSet ab;
  ab.add('a');
  ab.add('b');
  const auto c = v.class_closure(ab);
  std::vector<int32_t> inside;
  for (int32_t t = 0; t < 7; ++t)
    if ((c->inside_bits[(size_t)t >> 6] >> (t & 63)) & 1) inside.push_back(t);
  EXPECT_EQ(inside, (std::vector<int32_t>{0, 1, 2, 3}));
  std::string exits;
  for (uint32_t e : c->exits) exits += (char)v.trie()[e].byte;
  EXPECT_EQ(exits, "cc");  // "ab|c" and the root's "c"
  EXPECT_EQ(v.class_closure(ab).get(), c.get());  // cached
  for (int b = 0; b < (int)TokenVocabulary::kMaxCachedClosures; ++b) {
    ByteSet other = ByteSet::single((uint8_t)b);
    other.add('z');
    v.class_closure(other);
  }
  ByteSet late = ByteSet::single('c');
  const auto first = v.class_closure(late);
  EXPECT_NE(v.class_closure(late).get(), first.get());  // past the bound: not kept
  EXPECT_EQ(first->exits.size(), 2u);                   // the root's "a" and "b"
}

}  // namespace kiln::structured
