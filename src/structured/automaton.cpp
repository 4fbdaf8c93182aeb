#include "structured/automaton.h"

#include <algorithm>
#include <unordered_set>

#include "util/status.h"

namespace kiln::structured {

Automaton::Automaton(const Grammar& grammar) : root_(grammar.root) {
  starts_.resize(grammar.rules.size());
  for (size_t r = 0; r < grammar.rules.size(); ++r) {
    for (const auto& alt : grammar.rules[r].alternatives) {
      starts_[r].push_back((uint32_t)elems_.size());
      for (const Element& el : alt) {
        Elem e{Kind::kBytes, el.rule, el.bytes};
        if (el.kind == ElementKind::kBytesStar) e.kind = Kind::kBytesStar;
        if (el.kind == ElementKind::kRule) e.kind = Kind::kRule;
        elems_.push_back(e);
      }
      elems_.push_back(Elem{Kind::kEnd, 0, {}});
    }
  }
}

StackArena::StackArena(const Automaton& automaton) : a_(automaton) {
  // Ids 0 and 1 are the markers; their fields are never read as positions.
  nodes_.push_back(Node{UINT32_MAX, kAccept});
  nodes_.push_back(Node{UINT32_MAX, kEscaped});
}

StackId StackArena::push(uint32_t pos, StackId parent) {
  const uint64_t key = ((uint64_t)pos << 32) | parent;
  auto [it, inserted] = index_.try_emplace(key, (StackId)nodes_.size());
  if (inserted) nodes_.push_back(Node{pos, parent});
  return it->second;
}

std::vector<StackId> StackArena::initial_state() {
  std::vector<StackId> out;
  for (uint32_t start : a_.alternative_starts(a_.root())) {
    const auto& leaves = expand(push(start, kAccept));
    out.insert(out.end(), leaves.begin(), leaves.end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<StackId> StackArena::state_at(uint32_t pos) { return expand(push(pos, kEscaped)); }

const std::vector<StackId>& StackArena::expand(StackId s) {
  auto it = expanded_.find(s);
  if (it != expanded_.end()) return it->second;
  std::vector<StackId> out;
  expand_into(s, out);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return expanded_.emplace(s, std::move(out)).first->second;
}

// Iterative, with an explicit work list: a grammar may chain thousands of elements that
// match nothing (a regex of 30,000 "a?"), which as recursion would overflow the stack.
void StackArena::expand_into(StackId start, std::vector<StackId>& out) {
  std::vector<StackId> work = {start};
  std::unordered_set<StackId> seen = {start};
  auto visit = [&](StackId id) {
    if (seen.insert(id).second) work.push_back(id);
  };
  while (!work.empty()) {
    const StackId s = work.back();
    work.pop_back();
    if (s == kAccept || s == kEscaped) {
      out.push_back(s);
      continue;
    }
    if (s != start) {  // an expansion already known: take it whole
      auto known = expanded_.find(s);
      if (known != expanded_.end()) {
        out.insert(out.end(), known->second.begin(), known->second.end());
        continue;
      }
    }
    const uint32_t pos = nodes_[s].pos;
    const StackId parent = nodes_[s].parent;
    const Automaton::Elem& e = a_.elem(pos);
    switch (e.kind) {
      case Automaton::Kind::kEnd:  // the rule is complete: resume the caller
        visit(parent);
        break;
      case Automaton::Kind::kBytes:
        if (!e.bytes.empty()) out.push_back(s);
        break;
      case Automaton::Kind::kBytesStar:
        out.push_back(s);
        visit(push(pos + 1, parent));
        break;
      case Automaton::Kind::kRule: {
        const uint32_t ret = pos + 1;
        // Tail call: nothing left after the reference, so return straight to our caller.
        const StackId base =
            a_.elem(ret).kind == Automaton::Kind::kEnd ? parent : push(ret, parent);
        for (uint32_t first : a_.alternative_starts(e.rule)) visit(push(first, base));
        break;
      }
    }
  }
}

const std::vector<StackId>& StackArena::step(StackId leaf, uint8_t byte) {
  static const std::vector<StackId> kNone;
  if (leaf == kAccept || leaf == kEscaped) return kNone;
  const uint64_t key = ((uint64_t)leaf << 8) | byte;
  auto it = stepped_.find(key);
  if (it != stepped_.end()) return it->second;
  const Node n = nodes_[leaf];
  const Automaton::Elem& e = a_.elem(n.pos);
  std::vector<StackId> out;
  if (e.bytes.contains(byte)) {
    // A star stays put (and may also be left); a single byte moves past itself.
    out = e.kind == Automaton::Kind::kBytesStar ? expand(leaf) : expand(push(n.pos + 1, n.parent));
  }
  return stepped_.emplace(key, std::move(out)).first->second;
}

void StackArena::step_state(const std::vector<StackId>& state, uint8_t byte,
                            std::vector<StackId>& out) {
  out.clear();
  for (StackId s : state) {
    const auto& next = step(s, byte);
    out.insert(out.end(), next.begin(), next.end());
  }
  if (state.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
}

std::vector<StackId> StackArena::run(std::vector<StackId> state, std::string_view text) {
  std::vector<StackId> next;
  for (unsigned char c : text) {
    step_state(state, c, next);
    state.swap(next);
    if (state.empty()) break;
  }
  return state;
}

int32_t StateTable::intern(const std::vector<StackId>& state) {
  if (state.empty()) return kDead;
  auto [it, inserted] = index_.try_emplace(state, (int32_t)states_.size());
  if (inserted) {
    states_.push_back(state);
    escaped_.push_back(std::binary_search(state.begin(), state.end(), kEscaped));
    next_.resize(next_.size() + 256, kUnknown);
  }
  return it->second;
}

int32_t StateTable::compute(int32_t state, uint8_t byte) {
  // Copy: interning may grow states_ while we read it.
  const std::vector<StackId> from = states_[(size_t)state];
  arena_.step_state(from, byte, scratch_);
  return intern(scratch_);
}

}  // namespace kiln::structured
