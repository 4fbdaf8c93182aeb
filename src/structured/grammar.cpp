#include "structured/grammar.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <functional>
#include <unordered_map>
#include <unordered_set>

namespace kiln::structured {

int ByteSet::count() const {
  return std::popcount(words[0]) + std::popcount(words[1]) + std::popcount(words[2]) +
         std::popcount(words[3]);
}

// ---- Expr constructors ----

Expr Expr::byte_set(const ByteSet& s) {
  if (s.empty()) return nothing();
  Expr e;
  e.kind = Kind::kBytes;
  e.bytes = s;
  return e;
}

Expr Expr::literal(std::string_view s) {
  std::vector<Expr> parts;
  parts.reserve(s.size());
  for (unsigned char c : s) parts.push_back(byte(c));
  return seq(std::move(parts));
}

Expr Expr::ref(uint32_t rule) {
  Expr e;
  e.kind = Kind::kRule;
  e.rule = rule;
  return e;
}

Expr Expr::seq(std::vector<Expr> parts) {
  // Flatten nested sequences and drop empties, so lowering sees short flat lists.
  Expr e;
  e.kind = Kind::kSeq;
  for (Expr& p : parts) {
    if (p.kind == Kind::kEmpty) continue;
    if (p.kind == Kind::kNothing) return nothing();
    if (p.kind == Kind::kSeq) {
      for (Expr& c : p.children) e.children.push_back(std::move(c));
    } else {
      e.children.push_back(std::move(p));
    }
  }
  if (e.children.empty()) return empty();
  if (e.children.size() == 1) return std::move(e.children[0]);
  return e;
}

Expr Expr::alt(std::vector<Expr> options) {
  Expr e;
  e.kind = Kind::kAlt;
  for (Expr& o : options) {
    if (o.kind == Kind::kNothing) continue;
    if (o.kind == Kind::kAlt) {
      for (Expr& c : o.children) e.children.push_back(std::move(c));
    } else {
      e.children.push_back(std::move(o));
    }
  }
  if (e.children.empty()) return nothing();
  if (e.children.size() == 1) return std::move(e.children[0]);
  return e;
}

Expr Expr::repeat(Expr body, int32_t min, int32_t max) {
  if (max >= 0 && max < min) return nothing();
  if (max == 0 || body.kind == Kind::kEmpty) return empty();
  if (body.kind == Kind::kNothing) return min == 0 ? empty() : nothing();
  if (min == 1 && max == 1) return body;
  Expr e;
  e.kind = Kind::kRepeat;
  e.min = min;
  e.max = max;
  e.children.push_back(std::move(body));
  return e;
}

bool expr_nullable(const Expr& e, const std::function<bool(uint32_t)>& rule_nullable) {
  auto nullable = [&](const Expr& c) { return expr_nullable(c, rule_nullable); };
  switch (e.kind) {
    case Expr::Kind::kEmpty:
      return true;
    case Expr::Kind::kRule:
      return rule_nullable && rule_nullable(e.rule);
    case Expr::Kind::kSeq:
      return std::all_of(e.children.begin(), e.children.end(), nullable);
    case Expr::Kind::kAlt:
      return std::any_of(e.children.begin(), e.children.end(), nullable);
    case Expr::Kind::kRepeat:
      return e.min == 0 || nullable(e.children[0]);
    default:  // kBytes (never empty), kNothing
      return false;
  }
}

Expr expr_nonempty(const Expr& e, const std::function<bool(uint32_t)>& rule_nullable,
                   const std::function<uint32_t(uint32_t)>& rule_nonempty) {
  auto nonempty = [&](const Expr& c) { return expr_nonempty(c, rule_nullable, rule_nonempty); };
  auto nullable = [&](const Expr& c) { return expr_nullable(c, rule_nullable); };
  switch (e.kind) {
    case Expr::Kind::kSeq: {
      // Every part matches "": a non-empty match starts with a non-empty match of one part,
      // after empty matches of the parts before it.
      std::vector<Expr> options;
      for (size_t i = 0; i < e.children.size(); ++i) {
        std::vector<Expr> parts = {nonempty(e.children[i])};
        parts.insert(parts.end(), e.children.begin() + (std::ptrdiff_t)i + 1, e.children.end());
        options.push_back(Expr::seq(std::move(parts)));
      }
      return Expr::alt(std::move(options));
    }
    case Expr::Kind::kAlt: {
      std::vector<Expr> options;
      for (const Expr& c : e.children) options.push_back(nullable(c) ? nonempty(c) : c);
      return Expr::alt(std::move(options));
    }
    case Expr::Kind::kRepeat: {
      // At least one copy, and that one non-empty: the others may as well be non-empty too.
      const Expr& body = e.children[0];
      return Expr::repeat(nullable(body) ? nonempty(body) : body, 1, e.max);
    }
    case Expr::Kind::kRule:
      return Expr::ref(rule_nonempty(e.rule));
    default:  // kEmpty
      return Expr::nothing();
  }
}

size_t expr_size(const Expr& e) {
  size_t n = 1;
  for (const Expr& c : e.children) n += expr_size(c);
  return n;
}

// ---- UTF-8 ----

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | (cp >> 6));
    out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | (cp >> 12));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | (cp >> 18));
    out += (char)(0x80 | ((cp >> 12) & 0x3F));
    out += (char)(0x80 | ((cp >> 6) & 0x3F));
    out += (char)(0x80 | (cp & 0x3F));
  }
}

namespace {

constexpr uint32_t kMaxCodepoint = 0x10FFFF;

// Sorted, merged, surrogates removed (they have no UTF-8 encoding).
CodepointRanges normalize(CodepointRanges ranges, bool negated) {
  std::sort(ranges.begin(), ranges.end());
  CodepointRanges merged;
  for (auto [lo, hi] : ranges) {
    if (lo > hi || lo > kMaxCodepoint) continue;
    hi = std::min(hi, kMaxCodepoint);
    if (!merged.empty() && lo <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, hi);
    else
      merged.push_back({lo, hi});
  }
  if (negated) {
    CodepointRanges comp;
    uint32_t next = 0;
    for (auto [lo, hi] : merged) {
      if (lo > next) comp.push_back({next, lo - 1});
      next = hi + 1;
    }
    if (next <= kMaxCodepoint) comp.push_back({next, kMaxCodepoint});
    merged = std::move(comp);
  }
  CodepointRanges out;
  for (auto [lo, hi] : merged) {
    if (hi < 0xD800 || lo > 0xDFFF) {
      out.push_back({lo, hi});
      continue;
    }
    if (lo < 0xD800) out.push_back({lo, 0xD7FF});
    if (hi > 0xDFFF) out.push_back({0xE000, hi});
  }
  return out;
}

int utf8_length(uint32_t cp) { return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; }

// Splits [lo, hi] (same encoded length after the first step) into pieces whose encodings
// are a sequence of independent byte ranges, the standard construction used by regex
// engines: a piece may only vary in a suffix of continuation bytes that cover 80..BF fully.
void split_range(uint32_t lo, uint32_t hi, std::vector<std::vector<ByteSet>>& out) {
  for (uint32_t boundary : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= boundary && boundary < hi) {
      split_range(lo, boundary, out);
      split_range(boundary + 1, hi, out);
      return;
    }
  }
  const int n = utf8_length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        split_range(lo, lo | m, out);
        split_range((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        split_range(lo, (hi & ~m) - 1, out);
        split_range(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;
  append_utf8(lo, a);
  append_utf8(hi, b);
  std::vector<ByteSet> seq;
  for (size_t i = 0; i < a.size(); ++i) seq.push_back(ByteSet::range((uint8_t)a[i], (uint8_t)b[i]));
  out.push_back(std::move(seq));
}

}  // namespace

Expr utf8_class(const CodepointRanges& ranges, bool negated) {
  std::vector<std::vector<ByteSet>> pieces;
  for (auto [lo, hi] : normalize(ranges, negated)) split_range(lo, hi, pieces);
  // One-byte pieces merge into a single byte set; longer ones stay alternatives, grouped
  // by identical tails so a class like [^"] stays a handful of alternatives.
  ByteSet ascii;
  std::vector<Expr> options;
  for (auto& p : pieces) {
    if (p.size() == 1) {
      ascii.add_all(p[0]);
      continue;
    }
    bool merged = false;
    for (Expr& o : options) {
      // Same continuation-byte tail: widen the lead byte set instead of adding an option.
      if (o.children.size() != p.size()) continue;
      bool same_tail = true;
      for (size_t i = 1; i < p.size(); ++i) same_tail &= o.children[i].bytes == p[i];
      if (same_tail) {
        o.children[0].bytes.add_all(p[0]);
        merged = true;
        break;
      }
    }
    if (merged) continue;
    Expr e;
    e.kind = Expr::Kind::kSeq;
    for (const ByteSet& s : p) e.children.push_back(Expr::byte_set(s));
    options.push_back(std::move(e));
  }
  if (!ascii.empty()) options.insert(options.begin(), Expr::byte_set(ascii));
  return Expr::alt(std::move(options));
}

Expr utf8_any() { return utf8_class({}, /*negated=*/true); }

// ---- Builder ----

uint32_t GrammarBuilder::declare(std::string_view name) {
  std::string unique(name.empty() ? "rule" : name);
  // Names only need to be unique for printing; suffix on collision.
  auto taken = [&](const std::string& n) { return name_set_.count(n) > 0; };
  if (taken(unique)) {
    int& next = next_suffix_[unique];  // resume where the last collision stopped
    for (int i = std::max(next, 1);; ++i) {
      std::string candidate = unique;
      candidate += '-';
      candidate += std::to_string(i);
      if (!taken(candidate)) {
        next = i + 1;
        unique = candidate;
        break;
      }
    }
  }
  name_set_.insert(unique);
  names_.push_back(std::move(unique));
  bodies_.emplace_back();
  defined_.push_back(false);
  return (uint32_t)names_.size() - 1;
}

void GrammarBuilder::define(uint32_t rule, Expr body) {
  bodies_.at(rule) = std::move(body);
  defined_.at(rule) = true;
}

uint32_t GrammarBuilder::add(std::string_view name, Expr body) {
  const uint32_t id = declare(name);
  define(id, std::move(body));
  return id;
}

namespace {

// Lowers Expr trees into the rule/alternative/element form, adding helper rules for
// alternations inside sequences and for repetitions.
class Lowering {
 public:
  explicit Lowering(Grammar& g) : g_(g) {}

  void lower_rule(uint32_t rule, const Expr& body) {
    std::vector<std::vector<Element>> alts;
    if (body.kind == Expr::Kind::kAlt) {
      for (const Expr& c : body.children) alts.push_back(lower_seq(c));
    } else if (body.kind != Expr::Kind::kNothing) {
      alts.push_back(lower_seq(body));
    }
    g_.rules[rule].alternatives = std::move(alts);
  }

 private:
  std::vector<Element> lower_seq(const Expr& e) {
    std::vector<Element> out;
    append(e, out);
    return out;
  }

  uint32_t helper_rule(const std::string& suffix) {
    Rule r;
    // Built by appending: GCC 12's -Wrestrict misfires on `"_" + std::string` at -O3.
    r.name = "_";
    r.name += std::to_string(g_.rules.size());
    r.name += suffix;
    g_.rules.push_back(std::move(r));
    return (uint32_t)g_.rules.size() - 1;
  }

  static Element ref(uint32_t rule) {
    Element el;
    el.kind = ElementKind::kRule;
    el.rule = rule;
    return el;
  }

  // A rule for `e` alone, so a repeated body is lowered once.
  uint32_t rule_for(const Expr& e) {
    if (e.kind == Expr::Kind::kRule) return e.rule;
    const uint32_t r = helper_rule("-group");
    // lower_rule may grow g_.rules; it writes through the index.
    lower_rule(r, e);
    return r;
  }

  void append(const Expr& e, std::vector<Element>& out) {
    switch (e.kind) {
      case Expr::Kind::kEmpty:
        return;
      case Expr::Kind::kNothing: {
        Element never;  // an empty byte set: this alternative can never complete
        out.push_back(never);
        return;
      }
      case Expr::Kind::kBytes: {
        Element el;
        el.bytes = e.bytes;
        out.push_back(el);
        return;
      }
      case Expr::Kind::kRule:
        out.push_back(ref(e.rule));
        return;
      case Expr::Kind::kSeq:
        for (const Expr& c : e.children) append(c, out);
        return;
      case Expr::Kind::kAlt: {
        // Alternatives of single byte sets are one byte set.
        ByteSet merged;
        bool all_bytes = true;
        for (const Expr& c : e.children) {
          if (c.kind != Expr::Kind::kBytes) {
            all_bytes = false;
            break;
          }
          merged.add_all(c.bytes);
        }
        if (all_bytes) {
          Element el;
          el.bytes = merged;
          out.push_back(el);
          return;
        }
        out.push_back(ref(rule_for(e)));
        return;
      }
      case Expr::Kind::kRepeat:
        append_repeat(e, out);
        return;
    }
  }

  void append_repeat(const Expr& e, std::vector<Element>& out) {
    const Expr& body = e.children[0];
    // A run of one byte set needs no rule: kBytesStar is a self-loop.
    const bool byte_body =
        body.kind == Expr::Kind::kBytes || (body.kind == Expr::Kind::kAlt && is_byte_alt(body));
    if (byte_body) {
      Element one;
      one.bytes = byte_alt_set(body);
      for (int32_t i = 0; i < e.min; ++i) out.push_back(one);
      if (e.max < 0) {
        Element star = one;
        star.kind = ElementKind::kBytesStar;
        out.push_back(star);
        return;
      }
    }
    // A short body is repeated inline; a long one goes through a rule.
    std::vector<Element> body_elems;
    const bool inline_body = !byte_body && is_short(body);
    if (inline_body) body_elems = lower_seq(body);
    const uint32_t body_rule = (byte_body || inline_body) ? 0 : rule_for(body);
    auto emit_body = [&](std::vector<Element>& dst) {
      if (byte_body) {
        Element one;
        one.bytes = byte_alt_set(body);
        dst.push_back(one);
      } else if (inline_body) {
        dst.insert(dst.end(), body_elems.begin(), body_elems.end());
      } else {
        dst.push_back(ref(body_rule));
      }
    };
    if (!byte_body)
      for (int32_t i = 0; i < e.min; ++i) emit_body(out);
    if (e.max < 0) {
      // star ::= body star | ""  (right recursion: the matcher treats the trailing
      // reference as a tail call, so a long run does not deepen the stack)
      const uint32_t star = helper_rule("-star");
      std::vector<Element> loop;
      emit_body(loop);
      loop.push_back(ref(star));
      g_.rules[star].alternatives = {std::move(loop), {}};
      out.push_back(ref(star));
      return;
    }
    // Up to (max - min) more: opt_k ::= body opt_{k-1} | ""
    uint32_t prev = 0;
    bool have_prev = false;
    for (int32_t k = 1; k <= e.max - e.min; ++k) {
      const uint32_t opt = helper_rule("-opt");
      std::vector<Element> alt;
      emit_body(alt);
      if (have_prev) alt.push_back(ref(prev));
      g_.rules[opt].alternatives = {std::move(alt), {}};
      prev = opt;
      have_prev = true;
    }
    if (have_prev) out.push_back(ref(prev));
  }

  static bool is_byte_alt(const Expr& e) {
    for (const Expr& c : e.children)
      if (c.kind != Expr::Kind::kBytes) return false;
    return true;
  }
  static ByteSet byte_alt_set(const Expr& e) {
    if (e.kind == Expr::Kind::kBytes) return e.bytes;
    ByteSet s;
    for (const Expr& c : e.children) s.add_all(c.bytes);
    return s;
  }
  static bool is_short(const Expr& e) {
    if (e.kind == Expr::Kind::kBytes || e.kind == Expr::Kind::kRule) return true;
    if (e.kind != Expr::Kind::kSeq || e.children.size() > 4) return false;
    for (const Expr& c : e.children)
      if (c.kind != Expr::Kind::kBytes && c.kind != Expr::Kind::kRule) return false;
    return true;
  }

  Grammar& g_;
};

// A rule of byte elements only, small enough to copy into the rules that use it.
bool is_inlinable(const Rule& r) {
  if (r.alternatives.empty() || r.alternatives.size() > 16) return false;
  size_t elements = 0;
  for (const auto& alt : r.alternatives) {
    for (const Element& el : alt)
      if (el.kind == ElementKind::kRule) return false;
    elements += alt.size();
  }
  return elements <= 64;
}

// Copying a rule's alternatives into [a R b] is safe for matching only if the copies
// cannot carry different return addresses into a nested parse: no other reference in the
// alternative, except a last one (a tail call returns straight to the caller, so the
// copies' stacks meet again). Otherwise an ambiguous rule (optional whitespace on both
// sides of a value) would keep one stack per copy at every nesting level, exponentially
// many, where the shared rule lets them merge.
bool only_bytes_around(const std::vector<Element>& alt, size_t e) {
  for (size_t i = 0; i < alt.size(); ++i) {
    if (i == e || alt[i].kind != ElementKind::kRule) continue;
    if (i + 1 == alt.size() && i > e) continue;  // a tail call after the inlined rule
    return false;
  }
  return true;
}

// Copies small byte-only rules into the alternatives that reference them ([a R b] becomes
// [a r1 b] | [a r2 b] | ...), repeatedly, so helper rules such as "one JSON string
// character" dissolve into the loop that repeats them. The language is unchanged; what
// changes is where stacks stand: a mask position's rule then spans a whole string body or
// number instead of one character, so its tokens are decided without the stack below
// (compiled_grammar.h) instead of being checked one by one at every step.
void inline_small_rules(Grammar& g) {
  constexpr size_t kMaxAlternatives = 64;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      auto& alts = g.rules[r].alternatives;
      for (size_t a = 0; a < alts.size(); ++a) {
        for (size_t e = 0; e < alts[a].size(); ++e) {
          const Element el = alts[a][e];
          if (el.kind != ElementKind::kRule || el.rule == r) continue;
          if (!only_bytes_around(alts[a], e)) continue;
          const Rule& callee = g.rules[el.rule];
          if (!is_inlinable(callee)) continue;
          if (alts.size() - 1 + callee.alternatives.size() > kMaxAlternatives) continue;
          std::vector<std::vector<Element>> expanded;
          for (const auto& sub : callee.alternatives) {
            std::vector<Element> alt(alts[a].begin(), alts[a].begin() + (long)e);
            alt.insert(alt.end(), sub.begin(), sub.end());
            alt.insert(alt.end(), alts[a].begin() + (long)e + 1, alts[a].end());
            expanded.push_back(std::move(alt));
          }
          alts.erase(alts.begin() + (long)a);
          alts.insert(alts.begin() + (long)a, expanded.begin(), expanded.end());
          changed = true;
          break;  // re-scan this alternative (now several) from the start
        }
      }
    }
  }
}

std::vector<bool> nullable_rules(const Grammar& g) {
  std::vector<bool> nullable(g.rules.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < g.rules.size(); ++r) {
      if (nullable[r]) continue;
      for (const auto& alt : g.rules[r].alternatives) {
        bool all = true;
        for (const Element& el : alt) {
          if (el.kind == ElementKind::kBytesStar) continue;
          if (el.kind == ElementKind::kRule && nullable[el.rule]) continue;
          all = false;
          break;
        }
        if (all) {
          nullable[r] = changed = true;
          break;
        }
      }
    }
  }
  return nullable;
}

// A cycle of rules reachable from each other without consuming a byte, as "a -> b -> a".
std::string find_left_recursion(const Grammar& g) {
  const std::vector<bool> nullable = nullable_rules(g);
  const size_t n = g.rules.size();
  std::vector<std::vector<uint32_t>> edges(n);
  for (size_t r = 0; r < n; ++r)
    for (const auto& alt : g.rules[r].alternatives)
      for (const Element& el : alt) {
        if (el.kind == ElementKind::kRule) edges[r].push_back(el.rule);
        const bool passes = el.kind == ElementKind::kBytesStar ||
                            (el.kind == ElementKind::kRule && nullable[el.rule]);
        if (!passes) break;
      }
  // Iterative DFS with colours; on a back edge, report the path.
  std::vector<uint8_t> colour(n, 0);
  std::vector<uint32_t> path;
  std::vector<size_t> next_edge;
  for (uint32_t start = 0; start < n; ++start) {
    if (colour[start]) continue;
    path = {start};
    next_edge = {0};
    colour[start] = 1;
    while (!path.empty()) {
      const uint32_t r = path.back();
      if (next_edge.back() == edges[r].size()) {
        colour[r] = 2;
        path.pop_back();
        next_edge.pop_back();
        continue;
      }
      const uint32_t s = edges[r][next_edge.back()++];
      if (colour[s] == 1) {
        std::string chain;
        auto it = std::find(path.begin(), path.end(), s);
        for (; it != path.end(); ++it) chain += g.rules[*it].name + " -> ";
        return chain + g.rules[s].name;
      }
      if (colour[s] == 0) {
        colour[s] = 1;
        path.push_back(s);
        next_edge.push_back(0);
      }
    }
  }
  return "";
}

// The size expr_nonempty(e) would have (before Expr's flattening), without building it.
size_t nonempty_size(const Expr& e, const std::function<bool(uint32_t)>& rule_nullable) {
  auto nullable = [&](const Expr& c) { return expr_nullable(c, rule_nullable); };
  switch (e.kind) {
    case Expr::Kind::kSeq: {
      size_t total = 1, suffix = 0;  // suffix: the parts after the one made non-empty
      for (size_t i = e.children.size(); i-- > 0;) {
        total += 1 + nonempty_size(e.children[i], rule_nullable) + suffix;
        suffix += expr_size(e.children[i]);
      }
      return total;
    }
    case Expr::Kind::kAlt: {
      size_t total = 1;
      for (const Expr& c : e.children)
        total += nullable(c) ? nonempty_size(c, rule_nullable) : expr_size(c);
      return total;
    }
    case Expr::Kind::kRepeat:
      return 1 + (nullable(e.children[0]) ? nonempty_size(e.children[0], rule_nullable)
                                          : expr_size(e.children[0]));
    default:
      return 1;
  }
}

// Rewrites every repeat whose body can match "" to a repeat of the body's non-empty
// matches, B{m,n} = (B'){0,n} and B{m,} = (B')* (detail::repeat_expr has already rewritten
// the unbounded ones without references, more compactly). Lowered as written, each copy
// could be skipped without a byte, so a parse inside a long repeat held a path for nearly
// every copy and walked the later copies at every byte ("x{0,400}" with x ::= "a"? "b"*
// took 5 s to compile over 266 tokens), and an unbounded one reached itself without a byte
// (refused as left recursion). A rule R that matches "" gets a companion "R-nonempty" of
// its non-empty matches, made when a rewrite first needs it.
class NullableRepeats {
 public:
  NullableRepeats(std::vector<Expr>& bodies, std::vector<std::string>& names)
      : bodies_(bodies), names_(names), nullable_(bodies.size(), false) {
    // Which rules match "": a worklist over the rules that refer to each one, so that a
    // chain of thousands is settled in one pass rather than one pass per link.
    std::vector<std::vector<uint32_t>> referrers(bodies_.size());
    std::function<void(const Expr&, uint32_t)> note = [&](const Expr& e, uint32_t in) {
      if (e.kind == Expr::Kind::kRule && e.rule < referrers.size()) referrers[e.rule].push_back(in);
      for (const Expr& c : e.children) note(c, in);
    };
    std::vector<uint32_t> work;
    for (uint32_t r = 0; r < bodies_.size(); ++r) {
      note(bodies_[r], r);
      if (expr_nullable(bodies_[r])) nullable_[r] = true, work.push_back(r);  // without references
    }
    while (!work.empty()) {
      const uint32_t r = work.back();
      work.pop_back();
      for (uint32_t q : referrers[r])
        if (!nullable_[q] && expr_nullable(bodies_[q], is_nullable()))
          nullable_[q] = true, work.push_back(q);
    }
  }

  void run() {
    // Companion rules are appended as they are made, and rewritten in turn.
    for (size_t r = 0; r < bodies_.size(); ++r) {
      Expr body = bodies_[r];  // a copy: making a companion reads the original
      rewrite(body);
      bodies_[r] = std::move(body);
      make_companions();
    }
  }

 private:
  // NOTE: a sequence of k parts that all match "" has a non-empty form of ~k^2/2 parts
  // (k = 600 is ~180,000 nodes, ~15 MB); past this size a repeat (or a companion) is left
  // as written: slower to match, the same language.
  static bool too_large(size_t made, size_t original) {
    return made > std::max<size_t>(8 * original + 64, 200000);
  }

  std::function<bool(uint32_t)> is_nullable() const {
    return [this](uint32_t r) { return r < nullable_.size() && nullable_[r]; };
  }

  // The companion's id; its body is made later, by make_companions, so that a chain of
  // rules that match "" is walked by a loop rather than by recursion.
  uint32_t companion(uint32_t r) {
    // Past this many, a rule stands for itself: a long chain of rules that match "" would
    // otherwise get as long a chain of companions (20,000 took the compile from 1.3 to 6.7 s).
    constexpr size_t kMaxCompanions = 256;
    if (companion_.size() >= kMaxCompanions && !companion_.count(r)) return r;
    auto [it, inserted] = companion_.try_emplace(r, (uint32_t)bodies_.size());
    if (inserted) {
      names_.push_back(names_[r] + "-nonempty");
      bodies_.emplace_back();
      nullable_.push_back(false);
      pending_.push_back(r);
    }
    return it->second;
  }

  void make_companions() {
    while (!pending_.empty()) {
      const uint32_t r = pending_.back();
      pending_.pop_back();
      const Expr original = bodies_[r];  // a copy: making it may append rules
      Expr made = too_large(nonempty_size(original, is_nullable()), expr_size(original))
                      ? original  // its own matches: the repeats over it stay as slow as written
                      : expr_nonempty(original, is_nullable(),
                                      [this](uint32_t q) { return companion(q); });
      bodies_[companion_.at(r)] = std::move(made);
    }
  }

  void rewrite(Expr& e) {
    for (Expr& c : e.children) rewrite(c);
    if (e.kind != Expr::Kind::kRepeat || !expr_nullable(e.children[0], is_nullable())) return;
    const Expr& body = e.children[0];
    if (too_large(nonempty_size(body, is_nullable()), expr_size(body))) return;
    Expr rest = expr_nonempty(body, is_nullable(), [this](uint32_t q) { return companion(q); });
    e = Expr::repeat(std::move(rest), 0, e.max);
  }

  std::vector<Expr>& bodies_;
  std::vector<std::string>& names_;
  std::vector<bool> nullable_;  // per rule; companions counted as not matching "" (see make_companions)
  std::unordered_map<uint32_t, uint32_t> companion_;
  std::vector<uint32_t> pending_;  // rules whose companion's body is still to make
};

}  // namespace

StatusOr<Grammar> GrammarBuilder::build(uint32_t root) const {
  if (root >= bodies_.size()) return Status::Error("grammar: root rule out of range");
  for (size_t r = 0; r < bodies_.size(); ++r)
    if (!defined_[r]) return Status::Error("grammar: rule '" + names_[r] + "' is never defined");
  std::vector<Expr> bodies = bodies_;
  std::vector<std::string> names = names_;
  NullableRepeats(bodies, names).run();
  Grammar g;
  g.root = root;
  g.rules.resize(bodies.size());
  for (size_t r = 0; r < bodies.size(); ++r) g.rules[r].name = names[r];
  Lowering lowering(g);
  for (size_t r = 0; r < bodies.size(); ++r) lowering.lower_rule((uint32_t)r, bodies[r]);
  inline_small_rules(g);
  for (const Rule& rule : g.rules)
    for (const auto& alt : rule.alternatives)
      for (const Element& el : alt)
        if (el.kind == ElementKind::kRule && el.rule >= g.rules.size())
          return Status::Error("grammar: rule '" + rule.name + "' refers to an unknown rule");
  const std::string cycle = find_left_recursion(g);
  if (!cycle.empty())
    return Status::Error("grammar is left-recursive (" + cycle +
                         " without consuming input); rewrite it with repetition");
  return g;
}

// ---- Printing ----

namespace {

std::string byte_class(const ByteSet& s) {
  std::string out = "[";
  for (int b = 0; b < 256;) {
    if (!s.contains((uint8_t)b)) {
      ++b;
      continue;
    }
    int e = b;
    while (e + 1 < 256 && s.contains((uint8_t)(e + 1))) ++e;
    auto put = [&](int c) {
      if (c >= 0x21 && c < 0x7F && c != '\\' && c != ']' && c != '-' && c != '^') {
        out += (char)c;
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02X", c);
        out += buf;
      }
    };
    put(b);
    if (e > b) {
      out += '-';
      put(e);
    }
    b = e + 1;
  }
  return out + "]";
}

}  // namespace

std::string Grammar::to_string() const {
  std::string out;
  for (size_t r = 0; r < rules.size(); ++r) {
    out += rules[r].name + (r == root ? " (root)" : "") + " ::=";
    for (size_t a = 0; a < rules[r].alternatives.size(); ++a) {
      if (a) out += " |";
      if (rules[r].alternatives[a].empty()) out += " \"\"";
      for (const Element& el : rules[r].alternatives[a]) {
        out += ' ';
        if (el.kind == ElementKind::kRule)
          out += rules[el.rule].name;
        else
          out += byte_class(el.bytes) + (el.kind == ElementKind::kBytesStar ? "*" : "");
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace kiln::structured
