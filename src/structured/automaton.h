// A Grammar run as a nondeterministic pushdown automaton over bytes.
//
// A parse position is a stack of element positions: the top is the element to match next
// in the innermost rule, each entry below it is where its rule resumes once the rule above
// completes. Stacks are persistent and interned (StackArena): a stack is an id whose node
// holds (position, parent id), so equal stacks are equal ids, a set of parse paths is a
// sorted vector of ids, and expansions and byte steps can be memoized per id.
//
// After `expand`, every stack in a state has a byte-consuming element on top (a "leaf"),
// or is kAccept (the root rule completed). A reference that is the last element of its
// alternative is a tail call (its frame is dropped before the callee's is pushed), so
// right-recursive repetition does not deepen stacks.
#pragma once

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "structured/grammar.h"

namespace kiln::structured {

// The grammar flattened: each alternative is a run of elements ended by kEnd, and a
// position is an index into `elements`.
class Automaton {
 public:
  enum class Kind : uint8_t { kBytes, kBytesStar, kRule, kEnd };
  struct Elem {
    Kind kind;
    uint32_t rule;  // kRule
    ByteSet bytes;  // kBytes, kBytesStar
  };

  explicit Automaton(const Grammar& grammar);

  const Elem& elem(uint32_t pos) const { return elems_[pos]; }
  size_t num_positions() const { return elems_.size(); }
  const std::vector<uint32_t>& alternative_starts(uint32_t rule) const { return starts_[rule]; }
  uint32_t root() const { return root_; }
  // Positions that can be on top of a stack after expansion.
  bool is_leaf(uint32_t pos) const {
    return elems_[pos].kind == Kind::kBytes || elems_[pos].kind == Kind::kBytesStar;
  }

 private:
  std::vector<Elem> elems_;
  std::vector<std::vector<uint32_t>> starts_;  // per rule: first position of each alternative
  uint32_t root_ = 0;
};

using StackId = uint32_t;
inline constexpr StackId kAccept = 0;   // the empty stack: the root rule has completed
inline constexpr StackId kEscaped = 1;  // below a context-free start: "the caller resumes"

// Interned stacks plus memoized expansion and byte steps. Not thread-safe; each matcher
// (and each mask precomputation) owns one.
class StackArena {
 public:
  explicit StackArena(const Automaton& automaton);

  // The stack with `pos` on top of `parent`.
  StackId push(uint32_t pos, StackId parent);
  uint32_t top(StackId s) const { return nodes_[s].pos; }
  StackId parent(StackId s) const { return nodes_[s].parent; }

  // The initial state: the root rule's alternatives, expanded.
  std::vector<StackId> initial_state();
  // A state whose only path is `pos` on an escaped context (for context-free analysis).
  std::vector<StackId> state_at(uint32_t pos);

  // Leaves reachable from stack s without consuming a byte (sorted, unique).
  const std::vector<StackId>& expand(StackId s);
  // The leaves after leaf s consumes `byte` (empty if it cannot).
  const std::vector<StackId>& step(StackId leaf, uint8_t byte);
  // A whole state consumes `byte`: the union over its leaves, sorted and unique. kAccept
  // and kEscaped leaves consume nothing.
  void step_state(const std::vector<StackId>& state, uint8_t byte, std::vector<StackId>& out);
  // The state after `text` from `state`; empty as soon as a byte is refused.
  std::vector<StackId> run(std::vector<StackId> state, std::string_view text);

  const Automaton& automaton() const { return a_; }
  size_t size() const { return nodes_.size(); }

 private:
  struct Node {
    uint32_t pos;
    StackId parent;
  };
  void expand_into(StackId s, std::vector<StackId>& out);

  const Automaton& a_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, StackId> index_;
  std::unordered_map<StackId, std::vector<StackId>> expanded_;
  std::unordered_map<uint64_t, std::vector<StackId>> stepped_;
};

// Sets of stacks (parse states) interned as small ids with a lazily filled byte-transition
// table: walking the vocabulary trie costs one array read per trie node once the states it
// meets have been seen. In effect a DFA built on demand from the pushdown automaton, for
// the states a walk actually reaches.
class StateTable {
 public:
  static constexpr int32_t kDead = -1;  // no path survives

  explicit StateTable(StackArena& arena) : arena_(arena) {}

  int32_t intern(const std::vector<StackId>& state);
  int32_t step(int32_t state, uint8_t byte) {
    const size_t at = (size_t)state * 256 + byte;
    if (next_[at] != kUnknown) return next_[at];
    const int32_t next = compute(state, byte);  // may grow next_: index again after
    next_[at] = next;
    return next;
  }
  bool escaped(int32_t state) const { return escaped_[(size_t)state]; }
  size_t size() const { return states_.size(); }

 private:
  static constexpr int32_t kUnknown = -2;
  struct Hash {
    size_t operator()(const std::vector<StackId>& v) const {
      uint64_t h = 1469598103934665603ull;
      for (StackId s : v) h = (h ^ s) * 1099511628211ull;
      return (size_t)h;
    }
  };
  int32_t compute(int32_t state, uint8_t byte);

  StackArena& arena_;
  std::vector<std::vector<StackId>> states_;
  std::vector<uint8_t> escaped_;  // the state holds kEscaped
  std::unordered_map<std::vector<StackId>, int32_t, Hash> index_;
  std::vector<int32_t> next_;  // 256 per state
  std::vector<StackId> scratch_;
};

}  // namespace kiln::structured
