#include "structured/compile_util.h"

#include <algorithm>
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

// An expression E' that matches no "" and has E'* = E* (e matches "" and has no rule
// references). Inside a star, a piece that can match "" may as well be any one of its
// non-empty parts, since the star supplies the concatenation:
//   (A B)* = (A' | B')*  when A and B both match "";  (B{0,m})* = B*;  (A | B)* = (A' | B)*.
// Linear in the size of e, and it also takes away the ambiguity of splitting a run
// between the pieces: (a?a?a?)* becomes (a|a|a)*, one byte set.
Expr star_body(const Expr& e) {
  switch (e.kind) {
    case Expr::Kind::kSeq:
    case Expr::Kind::kAlt: {
      std::vector<Expr> options;
      for (const Expr& c : e.children) {
        // A sequence reaching here has only children that match "".
        options.push_back(expr_nullable(c) ? star_body(c) : c);
      }
      return Expr::alt(std::move(options));
    }
    case Expr::Kind::kRepeat: {
      const Expr& body = e.children[0];
      return expr_nullable(body) ? star_body(body) : body;
    }
    default:  // kEmpty
      return Expr::nothing();
  }
}

}  // namespace

Expr repeat_expr(Expr body, int32_t min, int32_t max) {
  if (max >= 0 || has_rule(body) || !expr_nullable(body))
    return Expr::repeat(std::move(body), min, max);
  // body{min,} = body* when body matches "" (pad the count with empty matches).
  return Expr::repeat(star_body(body), 0, -1);
}

int64_t repeat_cost(const Expr& e) {
  int64_t cost = 0;
  if (e.kind == Expr::Kind::kRepeat) cost += e.max < 0 ? (int64_t)e.min + 1 : e.max;
  for (const Expr& c : e.children) cost += repeat_cost(c);
  return cost;
}

}  // namespace kiln::structured::detail
