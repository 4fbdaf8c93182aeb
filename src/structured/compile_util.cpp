#include "structured/compile_util.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kiln::structured::detail {

size_t decode_utf8(std::string_view s, size_t pos, uint32_t* cp) {
  if (pos >= s.size()) return 0;
  const uint8_t lead = (uint8_t)s[pos];
  if (lead < 0x80) {
    *cp = lead;
    return 1;
  }
  size_t len = 0;
  uint32_t value = 0, min = 0;
  if ((lead & 0xE0) == 0xC0) {
    len = 2, value = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3, value = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4, value = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (size_t i = 1; i < len; ++i) {
    const uint8_t b = (uint8_t)s[pos + i];
    if ((b & 0xC0) != 0x80) return 0;
    value = (value << 6) | (b & 0x3F);
  }
  // Overlong forms and surrogates are not well-formed UTF-8.
  if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  *cp = value;
  return len;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

CodepointRanges complement(CodepointRanges ranges) {
  std::sort(ranges.begin(), ranges.end());
  CodepointRanges out;
  uint32_t next = 0;  // the first code point not yet known to be covered
  for (auto [lo, hi] : ranges) {
    if (lo > next) out.push_back({next, lo - 1});
    next = std::max(next, hi + 1);
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

Expr codepoint_literal(uint32_t cp) {
  std::string bytes;
  append_utf8(cp, bytes);
  return Expr::literal(bytes);
}

namespace {

bool has_rule(const Expr& e) {
  if (e.kind == Expr::Kind::kRule) return true;
  return std::any_of(e.children.begin(), e.children.end(), has_rule);
}

// Whether e matches "" (e has no rule references).
bool nullable(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kEmpty:
      return true;
    case Expr::Kind::kSeq:
      return std::all_of(e.children.begin(), e.children.end(), nullable);
    case Expr::Kind::kAlt:
      return std::any_of(e.children.begin(), e.children.end(), nullable);
    case Expr::Kind::kRepeat:
      return e.min == 0 || nullable(e.children[0]);
    default:
      return false;
  }
}

int64_t node_count(const Expr& e) {
  int64_t n = 1;
  for (const Expr& c : e.children) n += node_count(c);
  return n;
}

// A copy of e, paid for from `budget` (the rewrite below copies sequence tails, which is
// quadratic in the worst case, so it gives up rather than grow without bound).
std::optional<Expr> copy(const Expr& e, int64_t& budget) {
  budget -= node_count(e);
  if (budget < 0) return std::nullopt;
  return e;
}

// e without its match of "" (e has no rule references); nullopt when over budget.
std::optional<Expr> without_empty(const Expr& e, int64_t& budget) {
  if (!nullable(e)) return copy(e, budget);
  switch (e.kind) {
    case Expr::Kind::kAlt: {
      std::vector<Expr> options;
      for (const Expr& c : e.children) {
        std::optional<Expr> o = without_empty(c, budget);
        if (!o) return std::nullopt;
        options.push_back(std::move(*o));
      }
      return Expr::alt(std::move(options));
    }
    case Expr::Kind::kRepeat: {
      // body{min,max} with an empty match allowed is body'{0,max}; without "" it is
      // body'{1,max}, where body' is the body without "" (the body itself if it has none).
      std::optional<Expr> body = without_empty(e.children[0], budget);
      if (!body) return std::nullopt;
      return Expr::repeat(std::move(*body), 1, e.max);
    }
    case Expr::Kind::kSeq: {
      // Every child can match "": a non-empty match has a first child that matches
      // something, so it is one of: (child i without "") then children i+1.. as they are.
      std::vector<Expr> options;
      for (size_t i = 0; i < e.children.size(); ++i) {
        std::vector<Expr> parts;
        std::optional<Expr> first = without_empty(e.children[i], budget);
        if (!first) return std::nullopt;
        parts.push_back(std::move(*first));
        for (size_t j = i + 1; j < e.children.size(); ++j) {
          std::optional<Expr> rest = copy(e.children[j], budget);
          if (!rest) return std::nullopt;
          parts.push_back(std::move(*rest));
        }
        options.push_back(Expr::seq(std::move(parts)));
      }
      return Expr::alt(std::move(options));
    }
    default:  // kEmpty
      return Expr::nothing();
  }
}

}  // namespace

Expr repeat_expr(Expr body, int32_t min, int32_t max) {
  if (max >= 0 || has_rule(body) || !nullable(body)) return Expr::repeat(std::move(body), min, max);
  int64_t budget = kMaxRepeatTotal;
  std::optional<Expr> stripped = without_empty(body, budget);
  // Over budget: the builder will report the left recursion instead.
  if (!stripped) return Expr::repeat(std::move(body), min, max);
  // Padding with empty matches makes any count of non-empty ones reach `min`.
  return Expr::repeat(std::move(*stripped), 0, -1);
}

int64_t repeat_cost(const Expr& e) {
  int64_t cost = 0;
  if (e.kind == Expr::Kind::kRepeat) cost += e.max < 0 ? (int64_t)e.min + 1 : e.max;
  for (const Expr& c : e.children) cost += repeat_cost(c);
  return cost;
}

}  // namespace kiln::structured::detail
