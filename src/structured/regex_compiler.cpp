#include "structured/regex_compiler.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "structured/compile_util.h"

namespace kiln::structured {

namespace {

using detail::codepoint_literal;
using detail::decode_utf8;
using detail::hex_digit;

const CodepointRanges kDigit = {{'0', '9'}};
const CodepointRanges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const CodepointRanges kSpace = {{'\t', '\r'}, {' ', ' '}};  // \t \n \v \f \r and space

// What an escape stands for: one code point, or (\d \W ...) a class of them.
struct Escape {
  bool is_class = false;
  uint32_t cp = 0;
  CodepointRanges ranges;  // is_class: the members, already complemented for \D \W \S
};

// A parsed piece of the pattern. Anchors are zero-width and, under fullmatch, only mean
// something at the ends of the match, so they are dropped from `expr`; the parser checks
// that each one is where it is trivially true.
struct Parsed {
  Expr expr;
  bool anchored = false;  // holds an anchor, so repeating it would change the meaning
  // Where a $ sits that nothing may follow, if this piece holds one.
  std::optional<size_t> end_anchor;
};

Parsed plain(Expr e) {
  Parsed p;
  p.expr = std::move(e);
  return p;
}

class RegexParser {
 public:
  explicit RegexParser(std::string_view pattern) : p_(pattern) {}

  StatusOr<Expr> parse() {
    StatusOr<Parsed> top = parse_alternation(/*at_start=*/true);
    if (!top.ok()) return top.status();
    // parse_alternation stops only at the end or at a ')' that opened nothing.
    if (pos_ < p_.size()) return error(pos_, "unbalanced parenthesis");
    return std::move(top->expr);
  }

 private:
  Status error(size_t at, std::string_view what) const {
    return Status::Error("regex error at position " + std::to_string(at) + ": " +
                         std::string(what));
  }
  bool at_end() const { return pos_ >= p_.size(); }
  char peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : '\0'; }
  bool looking_at(std::string_view s) const { return p_.substr(pos_).starts_with(s); }

  // ---- Structure: alternation, sequence, quantifiers ----

  // `at_start`: nothing can have been consumed before this point, so ^ is allowed.
  StatusOr<Parsed> parse_alternation(bool at_start) {
    Parsed out;
    std::vector<Expr> options;
    while (true) {
      StatusOr<Parsed> branch = parse_sequence(at_start);
      if (!branch.ok()) return branch.status();
      out.anchored |= branch->anchored;
      if (branch->end_anchor) out.end_anchor = branch->end_anchor;
      options.push_back(std::move(branch->expr));
      if (at_end() || peek() != '|') break;
      ++pos_;
    }
    out.expr = Expr::alt(std::move(options));
    return out;
  }

  StatusOr<Parsed> parse_sequence(bool at_start) {
    Parsed out;
    std::vector<Expr> parts;
    while (!at_end() && peek() != '|' && peek() != ')') {
      if (out.end_anchor && !end_anchor_here())
        return error(*out.end_anchor, "anchor $ is only supported at the end of the pattern");
      const size_t start = pos_;
      if (start_anchor_here() || end_anchor_here()) {
        const bool is_start = start_anchor_here();
        pos_ += peek() == '\\' ? 2 : 1;
        if (is_start && !at_start)
          return error(start, "anchor ^ is only supported at the start of the pattern");
        if (!is_start) out.end_anchor = start;
        out.anchored = true;
        if (quantifier_here()) return error(pos_, "nothing to repeat (an anchor)");
        continue;
      }
      if (looking_at("(?#")) {
        KILN_RETURN_IF_ERROR(skip_comment());
        continue;
      }
      if (quantifier_here()) return error(pos_, "nothing to repeat");
      StatusOr<Parsed> atom = parse_atom(at_start);
      if (!atom.ok()) return atom.status();
      KILN_RETURN_IF_ERROR(parse_quantifiers(*atom));
      out.anchored |= atom->anchored;
      if (atom->end_anchor) out.end_anchor = atom->end_anchor;
      parts.push_back(std::move(atom->expr));
      at_start = false;
    }
    out.expr = Expr::seq(std::move(parts));
    return out;
  }

  bool start_anchor_here() const { return peek() == '^' || looking_at("\\A"); }
  bool end_anchor_here() const { return peek() == '$' || looking_at("\\Z") || looking_at("\\z"); }

  Status skip_comment() {
    const size_t open = pos_;
    const size_t close = p_.find(')', pos_);
    if (close == std::string_view::npos) return error(open, "unterminated comment");
    pos_ = close + 1;
    return Status::Ok();
  }

  // Reads a {n}, {n,}, {,m} or {n,m} at pos_ without consuming it. Anything else that
  // starts with '{' is a literal brace, as in Python.
  bool scan_braces(size_t* end, int64_t* min, int64_t* max) const {
    size_t i = pos_ + 1;
    auto number = [&](int64_t* value) {
      const size_t first = i;
      *value = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') {
        *value = std::min<int64_t>(*value * 10 + (p_[i] - '0'), INT32_MAX);
        ++i;
      }
      return i > first;
    };
    const bool has_min = number(min);
    if (!has_min) *min = 0;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(max)) *max = -1;
    } else {
      if (!has_min) return false;  // "{}" or "{x": literal
      *max = *min;
    }
    if (i >= p_.size() || p_[i] != '}') return false;
    *end = i + 1;
    return true;
  }

  bool quantifier_here() const {
    if (at_end()) return false;
    const char c = peek();
    if (c == '*' || c == '+' || c == '?') return true;
    size_t end;
    int64_t min, max;
    return c == '{' && scan_braces(&end, &min, &max);
  }

  Status parse_quantifiers(Parsed& atom) {
    if (!quantifier_here()) return Status::Ok();
    const size_t at = pos_;
    if (atom.anchored) return error(at, "a group holding an anchor cannot be repeated");
    int64_t min = 0, max = -1;
    const char c = peek();
    if (c == '{') {
      size_t end = pos_;
      scan_braces(&end, &min, &max);
      if (min > detail::kMaxRepeatCount || max > detail::kMaxRepeatCount)
        return error(
            at, "repetition count above the limit of " + std::to_string(detail::kMaxRepeatCount));
      if (max >= 0 && min > max)
        return error(at, "bad repetition: minimum " + std::to_string(min) + " is above maximum " +
                             std::to_string(max));
      pos_ = end;
    } else {
      min = c == '+' ? 1 : 0;
      max = c == '?' ? 1 : -1;
      ++pos_;
    }
    if (peek() == '+') return error(pos_, "possessive quantifiers are not supported");
    if (peek() == '?') ++pos_;  // lazy: matches the same strings
    if (quantifier_here()) return error(pos_, "multiple repeat");
    repeat_total_ += max < 0 ? min + 1 : max;
    if (repeat_total_ > detail::kMaxRepeatTotal)
      return error(
          at, "repetition counts add up to more than " + std::to_string(detail::kMaxRepeatTotal));
    atom.expr = detail::repeat_expr(std::move(atom.expr), (int32_t)min, (int32_t)max);
    return Status::Ok();
  }

  // ---- Atoms ----

  StatusOr<Parsed> parse_atom(bool at_start) {
    switch (peek()) {
      case '(':
        return parse_group(at_start);
      case '[': {
        StatusOr<Expr> cls = parse_class();
        if (!cls.ok()) return cls.status();
        return plain(std::move(*cls));
      }
      case '.':
        ++pos_;
        return plain(utf8_class({{'\n', '\n'}}, /*negated=*/true));
      case '\\': {
        StatusOr<Escape> esc = parse_escape(/*in_class=*/false);
        if (!esc.ok()) return esc.status();
        return plain(esc->is_class ? utf8_class(esc->ranges) : codepoint_literal(esc->cp));
      }
      default: {
        StatusOr<uint32_t> cp = parse_char();
        if (!cp.ok()) return cp.status();
        return plain(codepoint_literal(*cp));
      }
    }
  }

  // One literal character of the pattern (UTF-8 in the pattern is one code point).
  StatusOr<uint32_t> parse_char() {
    uint32_t cp = 0;
    const size_t len = decode_utf8(p_, pos_, &cp);
    if (len == 0) return error(pos_, "invalid UTF-8 in the pattern");
    pos_ += len;
    return cp;
  }

  StatusOr<Parsed> parse_group(bool at_start) {
    const size_t open = pos_++;
    if (peek() == '?') KILN_RETURN_IF_ERROR(parse_group_kind(open));
    if (++depth_ > detail::kMaxNesting)
      return error(open,
                   "groups nested more than " + std::to_string(detail::kMaxNesting) + " deep");
    StatusOr<Parsed> inner = parse_alternation(at_start);
    --depth_;
    if (!inner.ok()) return inner;
    if (at_end()) return error(open, "missing ), unterminated group");
    ++pos_;  // ')'
    return inner;
  }

  // After "(?": accepts the non-capturing and named forms (captures do not change what
  // matches) and names everything else that is refused.
  Status parse_group_kind(size_t open) {
    ++pos_;  // '?'
    const char c = peek();
    if (c == ':') {
      ++pos_;
      return Status::Ok();
    }
    if (c == 'P' && peek(1) == '<') {
      pos_ += 2;
      return parse_group_name(open);
    }
    if (c == 'P' && peek(1) == '=') return error(open, "backreferences are not supported");
    if (c == '<' && (peek(1) == '=' || peek(1) == '!'))
      return error(open, "lookbehind is not supported");
    if (c == '<') {
      ++pos_;
      return parse_group_name(open);
    }
    if (c == '=' || c == '!') return error(open, "lookahead is not supported");
    if (c == '>') return error(open, "atomic groups are not supported");
    if (c == '(') return error(open, "conditional groups are not supported");
    if (c == 'i') return error(open, "case-insensitive matching (?i) is not supported");
    if (c == '-' || (c >= 'a' && c <= 'z') || c == 'L') {
      if (p_.substr(pos_, p_.find_first_of(":)", pos_) - pos_).find('i') != std::string_view::npos)
        return error(open, "case-insensitive matching (?i) is not supported");
      return error(open, "inline flags are not supported");
    }
    return error(open, "unknown group extension");
  }

  Status parse_group_name(size_t open) {
    auto ident = [](char ch, bool first) {
      return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
             (!first && ch >= '0' && ch <= '9');
    };
    const size_t start = pos_;
    while (!at_end() && ident(peek(), pos_ == start)) ++pos_;
    if (pos_ == start || peek() != '>') return error(open, "bad group name");
    ++pos_;
    return Status::Ok();
  }

  // ---- Escapes ----

  StatusOr<Escape> parse_escape(bool in_class) {
    const size_t at = pos_++;
    if (at_end()) return error(at, "the pattern ends with a backslash");
    const char c = p_[pos_++];
    if (std::optional<uint32_t> v = control_escape(c)) return Escape{false, *v, {}};
    if (const CodepointRanges* r = shorthand(c)) {
      const bool negated = c >= 'A' && c <= 'Z';  // \D \W \S
      return Escape{true, 0, negated ? detail::complement(*r) : *r};
    }
    if (c == '0') return Escape{false, parse_octal(), {}};
    if (c == 'x' || c == 'u' || c == 'U')
      return parse_hex_escape(at, c == 'x' ? 2 : c == 'u' ? 4 : 8);
    if (c == 'b' && in_class) return Escape{false, '\b', {}};  // backspace, as in Python
    if (const char* why = refused_escape(c)) return error(at, why);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
      return error(at, std::string("bad escape \\") + c);
    // Any other escaped character stands for itself (\. \* \/ \- ..., and non-ASCII).
    --pos_;
    StatusOr<uint32_t> ch = parse_char();
    if (!ch.ok()) return ch.status();
    return Escape{false, *ch, {}};
  }

  static std::optional<uint32_t> control_escape(char c) {
    static constexpr std::string_view kLetters = "ntrfva", kValues = "\n\t\r\f\v\a";
    const size_t i = kLetters.find(c);
    if (i == std::string_view::npos) return std::nullopt;
    return (uint32_t)kValues[i];
  }

  static const CodepointRanges* shorthand(char c) {
    switch (c) {
      case 'd':
      case 'D':
        return &kDigit;
      case 'w':
      case 'W':
        return &kWord;
      case 's':
      case 'S':
        return &kSpace;
      default:
        return nullptr;
    }
  }

  // Why an escape is refused, or null when it is not one of these.
  static const char* refused_escape(char c) {
    if (c >= '1' && c <= '9') return "backreferences are not supported";
    switch (c) {
      case 'b':
        return "word boundary \\b is not supported";
      case 'B':
        return "\\B (not a word boundary) is not supported";
      case 'A':
      case 'Z':
      case 'z':
        return "anchors are only supported at the ends of the pattern";
      case 'G':
        return "\\G is not supported";
      case 'k':
        return "backreferences are not supported";
      case 'p':
      case 'P':
        return "Unicode property escapes are not supported";
      case 'N':
        return "named character escapes \\N{...} are not supported";
      default:
        return nullptr;
    }
  }

  // \0 and up to two more octal digits.
  uint32_t parse_octal() {
    uint32_t v = 0;
    for (int i = 0; i < 2 && peek() >= '0' && peek() <= '7'; ++i) v = v * 8 + (p_[pos_++] - '0');
    return v;
  }

  StatusOr<Escape> parse_hex_escape(size_t at, int digits) {
    StatusOr<uint32_t> v = read_hex(at, digits);
    if (!v.ok()) return v.status();
    uint32_t cp = *v;
    // JSON Schema patterns come from JavaScript, where an astral character is written
    // as a UTF-16 surrogate pair: \uD83D\uDE00 is one code point.
    if (digits == 4 && cp >= 0xD800 && cp <= 0xDBFF && looking_at("\\u")) {
      const size_t save = pos_;
      pos_ += 2;
      StatusOr<uint32_t> low = read_hex(save, 4);
      if (low.ok() && *low >= 0xDC00 && *low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (*low - 0xDC00);
      } else {
        pos_ = save;
      }
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return error(at, "a lone surrogate has no UTF-8 encoding");
    if (cp > 0x10FFFF) return error(at, "code point above U+10FFFF");
    return Escape{false, cp, {}};
  }

  StatusOr<uint32_t> read_hex(size_t at, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = at_end() ? -1 : hex_digit(peek());
      if (d < 0) return error(at, "incomplete hex escape");
      v = v * 16 + (uint32_t)d;
      ++pos_;
    }
    return v;
  }

  // ---- Classes ----

  StatusOr<Expr> parse_class() {
    const size_t open = pos_++;
    const bool negated = peek() == '^';
    if (negated) ++pos_;
    CodepointRanges ranges;
    for (bool first = true;; first = false) {
      if (at_end()) return error(open, "unterminated character class");
      if (peek() == ']' && !first) break;  // a ']' first is a literal, as in Python
      if (posix_class_here()) return error(pos_, "POSIX classes like [:alpha:] are not supported");
      const size_t item_at = pos_;
      StatusOr<Escape> lo = parse_class_item();
      if (!lo.ok()) return lo.status();
      const bool is_range = peek() == '-' && peek(1) != ']' && pos_ + 1 < p_.size();
      if (!is_range) {
        add_item(*lo, ranges);
        continue;
      }
      ++pos_;  // '-'
      StatusOr<Escape> hi = parse_class_item();
      if (!hi.ok()) return hi.status();
      if (lo->is_class || hi->is_class || hi->cp < lo->cp)
        return error(item_at,
                     "bad character range " + std::string(p_.substr(item_at, pos_ - item_at)));
      ranges.push_back({lo->cp, hi->cp});
    }
    ++pos_;  // ']'
    // A negated class matches whole code points, never a lone byte of one.
    return utf8_class(ranges, negated);
  }

  // [:name:] inside a class: Python would read it as the characters, but whoever wrote it
  // meant a POSIX class.
  bool posix_class_here() const {
    if (!looking_at("[:")) return false;
    size_t i = pos_ + 2;
    while (i < p_.size() && p_[i] >= 'a' && p_[i] <= 'z') ++i;
    return i > pos_ + 2 && p_.substr(i).starts_with(":]");
  }

  static void add_item(const Escape& item, CodepointRanges& ranges) {
    if (item.is_class) {
      ranges.insert(ranges.end(), item.ranges.begin(), item.ranges.end());
    } else {
      ranges.push_back({item.cp, item.cp});
    }
  }

  StatusOr<Escape> parse_class_item() {
    if (peek() == '\\') return parse_escape(/*in_class=*/true);
    StatusOr<uint32_t> cp = parse_char();
    if (!cp.ok()) return cp.status();
    return Escape{false, *cp, {}};
  }

  std::string_view p_;
  size_t pos_ = 0;
  int depth_ = 0;
  int64_t repeat_total_ = 0;
};

}  // namespace

StatusOr<Expr> compile_regex(std::string_view pattern, GrammarBuilder& /*builder*/) {
  // A regular language needs no rules of its own: the builder adds the helper rules when
  // it lowers the expression.
  return RegexParser(pattern).parse();
}

StatusOr<Grammar> grammar_from_regex(std::string_view pattern) {
  GrammarBuilder builder;
  StatusOr<Expr> expr = compile_regex(pattern, builder);
  if (!expr.ok()) return expr.status();
  const uint32_t root = builder.add("root", std::move(*expr));
  return builder.build(root);
}

}  // namespace kiln::structured
