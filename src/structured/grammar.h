// The one representation every structured-output source compiles to: a context-free
// grammar over bytes. JSON Schema, regular expressions, GBNF/Lark grammars, choice lists
// and "any JSON" are each turned into a `Grammar` (through the `Expr` trees below), and the
// matcher (matcher.h) runs it as a pushdown automaton against the model's token bytes.
//
// Bytes, not characters: tokens are byte strings and may split a UTF-8 character, so a
// class of code points is lowered to alternatives of byte sequences (utf8_class). The
// grammar never sees a code point.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "util/status.h"

namespace kiln::structured {

// A set of byte values.
struct ByteSet {
  uint64_t words[4] = {0, 0, 0, 0};

  bool contains(uint8_t b) const { return (words[b >> 6] >> (b & 63)) & 1; }
  void add(uint8_t b) { words[b >> 6] |= 1ull << (b & 63); }
  void add_range(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) add((uint8_t)b);
  }
  void add_all(const ByteSet& o) {
    for (int i = 0; i < 4; ++i) words[i] |= o.words[i];
  }
  ByteSet complement() const {
    ByteSet r;
    for (int i = 0; i < 4; ++i) r.words[i] = ~words[i];
    return r;
  }
  bool empty() const { return (words[0] | words[1] | words[2] | words[3]) == 0; }
  int count() const;
  bool operator==(const ByteSet& o) const = default;

  static ByteSet single(uint8_t b) {
    ByteSet s;
    s.add(b);
    return s;
  }
  static ByteSet range(uint8_t lo, uint8_t hi) {
    ByteSet s;
    s.add_range(lo, hi);
    return s;
  }
};

// ---- The lowered grammar (what the matcher runs) ----

enum class ElementKind : uint8_t {
  kBytes,      // exactly one byte from `bytes`
  kBytesStar,  // zero or more bytes from `bytes` (a self-loop, no rule needed)
  kRule,       // the rule `rule`
};

struct Element {
  ElementKind kind = ElementKind::kBytes;
  uint32_t rule = 0;
  ByteSet bytes;
  bool operator==(const Element& o) const = default;
};

struct Rule {
  std::string name;
  std::vector<std::vector<Element>> alternatives;  // an empty alternative matches ""
};

struct Grammar {
  std::vector<Rule> rules;
  uint32_t root = 0;

  // GBNF-like text, one rule per line (for errors, tests and debugging); byte sets print
  // as [..] classes with \xHH escapes.
  std::string to_string() const;
};

// ---- Expressions: what the compilers build ----

// A regular expression over bytes and rule references. Compilers build these trees and
// GrammarBuilder lowers them to rules. Value type; cheap enough at schema sizes.
struct Expr {
  enum class Kind : uint8_t {
    kEmpty,    // matches ""
    kBytes,    // one byte from `bytes`
    kRule,     // reference to a declared rule (recursion goes through rules)
    kSeq,      // children in order
    kAlt,      // any one child
    kRepeat,   // children[0] repeated min..max times (max < 0: unbounded)
    kNothing,  // matches nothing (an empty enum, a byte class with no members)
  };
  Kind kind = Kind::kEmpty;
  ByteSet bytes;
  uint32_t rule = 0;
  int32_t min = 0, max = 0;
  std::vector<Expr> children;

  static Expr empty() { return Expr{}; }
  static Expr nothing() {
    Expr e;
    e.kind = Kind::kNothing;
    return e;
  }
  static Expr byte_set(const ByteSet& s);
  static Expr byte(uint8_t b) { return byte_set(ByteSet::single(b)); }
  static Expr literal(std::string_view s);  // the bytes of s in order
  static Expr ref(uint32_t rule);
  static Expr seq(std::vector<Expr> parts);
  static Expr alt(std::vector<Expr> options);
  static Expr repeat(Expr body, int32_t min, int32_t max);
  static Expr star(Expr body) { return repeat(std::move(body), 0, -1); }
  static Expr plus(Expr body) { return repeat(std::move(body), 1, -1); }
  static Expr optional(Expr body) { return repeat(std::move(body), 0, 1); }
};

// Whether e matches "". A reference asks rule_nullable (without one, it is taken as not
// matching "").
bool expr_nullable(const Expr& e, const std::function<bool(uint32_t)>& rule_nullable = {});

// Exactly e's non-empty matches, for an e that matches "" (so that a repeat of e can count
// only copies that consume a byte). A reference to a rule that matches "" becomes a
// reference to rule_nonempty(rule), a rule of that rule's non-empty matches. A sequence of
// k parts that all match "" becomes k alternatives: quadratic in k (callers bound the size).
Expr expr_nonempty(const Expr& e, const std::function<bool(uint32_t)>& rule_nullable = {},
                   const std::function<uint32_t(uint32_t)>& rule_nonempty = {});

// The number of nodes in e.
size_t expr_size(const Expr& e);

// A set of Unicode code points as inclusive ranges.
using CodepointRanges = std::vector<std::pair<uint32_t, uint32_t>>;

// One UTF-8-encoded code point from `ranges` (or, negated, any valid code point outside
// them: U+0000..U+10FFFF minus surrogates). Lowered to alternatives of byte sequences, so
// the automaton only ever accepts well-formed UTF-8.
Expr utf8_class(const CodepointRanges& ranges, bool negated = false);
// Any single well-formed UTF-8 code point.
Expr utf8_any();
// The UTF-8 encoding of code point cp (appended to out).
void append_utf8(uint32_t cp, std::string& out);

// Builds a Grammar from named rules whose bodies are Exprs. Rules may refer to each other
// (and themselves) through Expr::ref before they are defined.
class GrammarBuilder {
 public:
  // Declares a rule (names are made unique by suffixing) and returns its id.
  uint32_t declare(std::string_view name);
  // Sets the body of a declared rule. Each rule is defined exactly once.
  void define(uint32_t rule, Expr body);
  // declare + define.
  uint32_t add(std::string_view name, Expr body);

  // Lowers every rule and checks the result: every declared rule defined, every reference
  // in range, and no left recursion (a rule that can reach itself without consuming a
  // byte would make the automaton loop): that is an error naming the rule chain.
  StatusOr<Grammar> build(uint32_t root) const;

 private:
  std::vector<std::string> names_;
  std::unordered_set<std::string> name_set_;
  std::unordered_map<std::string, int> next_suffix_;  // per base name, after a collision
  std::vector<Expr> bodies_;
  std::vector<bool> defined_;
};

}  // namespace kiln::structured
