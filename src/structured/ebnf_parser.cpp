#include "structured/ebnf_parser.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "structured/compile_util.h"
#include "structured/regex_compiler.h"

namespace kiln::structured {

namespace {

using detail::decode_utf8;
using detail::hex_digit;
using detail::repeat_expr;

enum class Dialect { kGbnf, kLark };

// "line 3, column 7" for a byte offset (both 1-based; columns count bytes).
std::string line_col(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const size_t line = 1 + std::count(text.begin(), text.begin() + offset, '\n');
  const size_t line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  const size_t column =
      offset == 0 || line_start == std::string_view::npos ? offset + 1 : offset - line_start;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// A character for a message: printable ASCII as itself, anything else as \xHH.
std::string show_char(char c) {
  if (c >= 0x20 && c < 0x7F) return std::string(1, c);
  static const char kHex[] = "0123456789ABCDEF";
  return std::string("\\x") + kHex[(uint8_t)c >> 4] + kHex[(uint8_t)c & 15];
}

// A position in the grammar text, with the dialect's lexical rules.
class Scanner {
 public:
  Scanner(std::string_view text, Dialect dialect) : text_(text), dialect_(dialect) {}

  std::string_view text() const { return text_; }
  bool lark() const { return dialect_ == Dialect::kLark; }
  size_t pos = 0;

  bool at_end() const { return pos >= text_.size(); }
  char peek(size_t ahead = 0) const {
    return pos + ahead < text_.size() ? text_[pos + ahead] : '\0';
  }
  bool looking_at(std::string_view s) const { return text_.substr(pos).starts_with(s); }

  Status error(size_t at, std::string_view what) const {
    return Status::Error(std::string(lark() ? "Lark grammar" : "GBNF") + " error at " +
                         line_col(text_, at) + ": " + std::string(what));
  }

  // Skips spaces, tabs, carriage returns and comments (GBNF: #; Lark: // and #), and
  // newlines too when `newlines`.
  void skip_blank(bool newlines) {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\r' || (newlines && c == '\n')) {
        ++pos;
      } else if (c == '#' || (lark() && looking_at("//"))) {
        while (!at_end() && peek() != '\n') ++pos;
      } else {
        break;
      }
    }
  }

  bool name_char(char c, bool first) const {
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    // GBNF names are words of letters, digits and dashes; Lark's are identifiers.
    if (lark()) return alpha || (!first && digit);
    return alpha || digit || c == '-';
  }

  std::string_view read_name() {
    const size_t start = pos;
    while (!at_end() && name_char(peek(), pos == start)) ++pos;
    return text_.substr(start, pos - start);
  }

  // Whether the next definition (or, in Lark, directive) starts here: `name ::=` in GBNF;
  // in Lark `[?!]name[.priority][{params}]:` or `%...` first on its line.
  bool definition_here() const {
    Scanner probe = *this;
    if (lark()) {
      if (!first_on_line()) return false;
      if (probe.peek() == '%') return true;
      while (probe.peek() == '?' || probe.peek() == '!') ++probe.pos;
    }
    if (probe.read_name().empty()) return false;
    if (lark()) probe.skip_priority_and_params();
    probe.skip_blank(false);
    return lark() ? probe.peek() == ':' : probe.looking_at("::=");
  }

  void skip_priority_and_params() {
    if (peek() == '.' && peek(1) != '.') {
      ++pos;
      while (peek() == '-' || peek() == '+' || peek() == '.' || (peek() >= '0' && peek() <= '9'))
        ++pos;
    }
    if (peek() == '{') {
      while (!at_end() && peek() != '}' && peek() != '\n') ++pos;
      if (peek() == '}') ++pos;
    }
  }

 private:
  bool first_on_line() const {
    for (size_t i = pos; i > 0; --i) {
      const char c = text_[i - 1];
      if (c == '\n') return true;
      if (c != ' ' && c != '\t' && c != '\r') return false;
    }
    return true;
  }

  std::string_view text_;
  Dialect dialect_;
};

// Resolves a name used in a body to its rule (declaring it when first seen there).
using Resolver = std::function<StatusOr<uint32_t>(std::string_view name, size_t at)>;

// Parses one definition's alternatives into an Expr: everything up to the start of the
// next definition or the end of the text. Shared by both dialects; their items differ.
class BodyParser {
 public:
  BodyParser(Scanner& scan, GrammarBuilder& builder, Resolver resolve)
      : s_(scan), builder_(builder), resolve_(std::move(resolve)) {}

  StatusOr<Expr> parse_body() {
    StatusOr<Expr> body = parse_alternatives();
    if (!body.ok()) return body;
    s_.skip_blank(true);
    if (!at_body_end()) return s_.error(s_.pos, "unexpected '" + show_char(s_.peek()) + "'");
    return body;
  }

 private:
  bool at_body_end() const { return s_.at_end() || s_.definition_here(); }

  StatusOr<Expr> parse_alternatives() {
    std::vector<Expr> options;
    while (true) {
      StatusOr<Expr> seq = parse_sequence();
      if (!seq.ok()) return seq;
      options.push_back(std::move(*seq));
      s_.skip_blank(true);
      if (at_body_end() || s_.peek() != '|') break;
      ++s_.pos;
    }
    return Expr::alt(std::move(options));
  }

  StatusOr<Expr> parse_sequence() {
    std::vector<Expr> parts;
    while (true) {
      s_.skip_blank(true);
      if (at_body_end()) break;
      const char c = s_.peek();
      if (c == '|' || c == ')' || c == ']') break;
      if (s_.lark() && s_.looking_at("->")) {
        // `-> alias` names the tree node; the language is unchanged.
        s_.pos += 2;
        s_.skip_blank(false);
        if (s_.read_name().empty()) return s_.error(s_.pos, "expected a name after ->");
        continue;
      }
      StatusOr<Expr> item = parse_item();
      if (!item.ok()) return item;
      KILN_RETURN_IF_ERROR(parse_postfix(*item));
      parts.push_back(std::move(*item));
    }
    return Expr::seq(std::move(parts));
  }

  StatusOr<Expr> parse_item() {
    const char c = s_.peek();
    if (c == '"') return parse_string_item();
    if (c == '(') return parse_group(')');
    if (c == '[') return s_.lark() ? parse_group(']') : parse_class();
    if (c == '.' && !s_.lark()) {
      ++s_.pos;
      return utf8_any();
    }
    if (c == '/' && s_.lark()) return parse_regex();
    if (s_.name_char(c, /*first=*/true)) return parse_reference();
    return s_.error(s_.pos, "unexpected '" + show_char(c) + "'");
  }

  // ( ... ) a group; in Lark, [ ... ] an optional group.
  StatusOr<Expr> parse_group(char close) {
    const size_t open = s_.pos++;
    if (++depth_ > detail::kMaxNesting)
      return s_.error(open,
                      "groups nested more than " + std::to_string(detail::kMaxNesting) + " deep");
    StatusOr<Expr> inner = parse_alternatives();
    if (!inner.ok()) return inner;
    s_.skip_blank(true);
    if (s_.peek() != close)
      return s_.error(open, std::string("missing '") + close + "' for this group");
    ++s_.pos;
    --depth_;
    if (close == ']') return repeat_expr(std::move(*inner), 0, 1);
    return inner;
  }

  StatusOr<Expr> parse_reference() {
    const size_t at = s_.pos;
    const std::string_view name = s_.read_name();
    if (s_.lark() && s_.peek() == '{') return s_.error(at, "rule templates are not supported");
    StatusOr<uint32_t> rule = resolve_(name, at);
    if (!rule.ok()) return rule.status();
    return Expr::ref(*rule);
  }

  // ---- Postfix operators: * + ? and {m,n} (GBNF) or ~ n..m (Lark) ----

  // Operators may follow each other ("a"+? is ("a"+)?); each one nests the item deeper.
  Status parse_postfix(Expr& item) {
    for (int nesting = depth_;; ++nesting) {
      s_.skip_blank(false);  // an operator is on its item's line
      const size_t at = s_.pos;
      const char c = s_.peek();
      int64_t min = 0, max = -1;
      if (c == '*' || c == '+' || c == '?') {
        ++s_.pos;
        min = c == '+' ? 1 : 0;
        max = c == '?' ? 1 : -1;
      } else if (c == '{' && !s_.lark()) {
        KILN_RETURN_IF_ERROR(parse_braces(&min, &max));
      } else if (c == '~' && s_.lark()) {
        KILN_RETURN_IF_ERROR(parse_tilde(&min, &max));
      } else {
        return Status::Ok();
      }
      if (max >= 0 && min > max)
        return s_.error(at, "bad repetition: minimum " + std::to_string(min) +
                                " is above maximum " + std::to_string(max));
      if (nesting >= detail::kMaxNesting)
        return s_.error(
            at, "repetitions nested more than " + std::to_string(detail::kMaxNesting) + " deep");
      item = repeat_expr(std::move(item), (int32_t)min, (int32_t)max);
    }
  }

  // {m}, {m,}, {,n} or {m,n}.
  Status parse_braces(int64_t* min, int64_t* max) {
    ++s_.pos;  // '{'
    s_.skip_blank(false);
    const bool has_min = s_.peek() >= '0' && s_.peek() <= '9';
    if (has_min) KILN_RETURN_IF_ERROR(parse_count(min));
    s_.skip_blank(false);
    if (s_.peek() == ',') {
      ++s_.pos;
      s_.skip_blank(false);
      if (s_.peek() >= '0' && s_.peek() <= '9') KILN_RETURN_IF_ERROR(parse_count(max));
    } else if (has_min) {
      *max = *min;
    } else {
      return s_.error(s_.pos, "expected a repetition count");
    }
    s_.skip_blank(false);
    if (s_.peek() != '}') return s_.error(s_.pos, "expected '}' after the repetition count");
    ++s_.pos;
    return Status::Ok();
  }

  // ~ n or ~ n..m.
  Status parse_tilde(int64_t* min, int64_t* max) {
    ++s_.pos;  // '~'
    s_.skip_blank(false);
    KILN_RETURN_IF_ERROR(parse_count(min));
    *max = *min;
    s_.skip_blank(false);
    if (s_.looking_at("..")) {
      s_.pos += 2;
      s_.skip_blank(false);
      KILN_RETURN_IF_ERROR(parse_count(max));
    }
    return Status::Ok();
  }

  Status parse_count(int64_t* value) {
    const size_t at = s_.pos;
    *value = 0;
    while (s_.peek() >= '0' && s_.peek() <= '9') {
      *value = std::min<int64_t>(*value * 10 + (s_.peek() - '0'), INT32_MAX);
      ++s_.pos;
    }
    if (s_.pos == at) return s_.error(at, "expected a repetition count");
    if (*value > detail::kMaxRepeatCount)
      return s_.error(
          at, "repetition count above the limit of " + std::to_string(detail::kMaxRepeatCount));
    return Status::Ok();
  }

  // ---- Literals and classes ----

  StatusOr<Expr> parse_string_item() {
    const size_t open = s_.pos;
    StatusOr<std::string> lo = read_string();
    if (!lo.ok()) return lo.status();
    if (s_.lark() && s_.peek() == 'i')
      return s_.error(s_.pos, "case-insensitive literals (the i flag) are not supported");
    if (!s_.lark() || !range_follows()) return Expr::literal(*lo);
    // Lark's "a".."z": one character from a range.
    s_.skip_blank(false);
    s_.pos += 2;
    s_.skip_blank(false);
    if (s_.peek() != '"') return s_.error(s_.pos, "expected a string after ..");
    StatusOr<std::string> hi = read_string();
    if (!hi.ok()) return hi.status();
    uint32_t lo_cp = 0, hi_cp = 0;
    if (lo->empty() || decode_utf8(*lo, 0, &lo_cp) != lo->size() || hi->empty() ||
        decode_utf8(*hi, 0, &hi_cp) != hi->size())
      return s_.error(open, "a range's ends must be single characters");
    if (hi_cp < lo_cp) return s_.error(open, "bad range: its end comes before its start");
    return utf8_class({{lo_cp, hi_cp}});
  }

  bool range_follows() const {
    Scanner probe = s_;
    probe.skip_blank(false);
    return probe.looking_at("..");
  }

  // A "..." string with escapes, as UTF-8 bytes.
  StatusOr<std::string> read_string() {
    const size_t open = s_.pos++;
    std::string out;
    while (true) {
      if (s_.at_end() || (s_.lark() && s_.peek() == '\n'))
        return s_.error(open, "unterminated string");
      if (s_.peek() == '"') break;
      StatusOr<uint32_t> cp = read_char();
      if (!cp.ok()) return cp.status();
      append_utf8(*cp, out);
    }
    ++s_.pos;
    return out;
  }

  // [...] and [^...] (GBNF): one code point from (or outside) the listed ranges.
  StatusOr<Expr> parse_class() {
    const size_t open = s_.pos++;
    const bool negated = s_.peek() == '^';
    if (negated) ++s_.pos;
    CodepointRanges ranges;
    while (true) {
      if (s_.at_end()) return s_.error(open, "unterminated character class");
      if (s_.peek() == ']') break;
      const size_t item_at = s_.pos;
      StatusOr<uint32_t> lo = read_char();
      if (!lo.ok()) return lo.status();
      uint32_t hi = *lo;
      if (s_.peek() == '-' && s_.peek(1) != ']' && s_.pos + 1 < s_.text().size()) {
        ++s_.pos;
        StatusOr<uint32_t> end = read_char();
        if (!end.ok()) return end.status();
        hi = *end;
        if (hi < *lo)
          return s_.error(item_at, "bad character range: its end comes before its start");
      }
      ranges.push_back({*lo, hi});
    }
    ++s_.pos;
    return utf8_class(ranges, negated);
  }

  // One character of a string or class: an escape, or a UTF-8 code point.
  StatusOr<uint32_t> read_char() {
    if (s_.peek() == '\\') return read_escape();
    uint32_t cp = 0;
    const size_t len = decode_utf8(s_.text(), s_.pos, &cp);
    if (len == 0) return s_.error(s_.pos, "invalid UTF-8");
    s_.pos += len;
    return cp;
  }

  StatusOr<uint32_t> read_escape() {
    static constexpr std::string_view kLetters = "ntrfv0", kValues{"\n\t\r\f\v\0", 6};
    static constexpr std::string_view kSelf = "\\\"'[]-^/";  // escaped, stand for themselves
    const size_t at = s_.pos++;
    if (s_.at_end()) return s_.error(at, "unterminated escape");
    const char c = s_.text()[s_.pos++];
    if (const size_t i = kLetters.find(c); i != std::string_view::npos) return (uint32_t)kValues[i];
    if (kSelf.find(c) != std::string_view::npos) return (uint32_t)c;
    if (c == 'x' || c == 'u' || c == 'U') return read_hex(at, c == 'x' ? 2 : c == 'u' ? 4 : 8);
    return s_.error(at, "unknown escape \\" + show_char(c));
  }

  // The code point of \x, \u or \U: exactly `digits` hex digits.
  StatusOr<uint32_t> read_hex(size_t at, int digits) {
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = hex_digit(s_.peek());
      if (s_.at_end() || d < 0) return s_.error(at, "incomplete hex escape");
      v = v * 16 + (uint32_t)d;
      ++s_.pos;
    }
    if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
      return s_.error(at, "escape is not a Unicode scalar value (surrogate or above U+10FFFF)");
    return v;
  }

  // Lark /regex/: compiled as a whole-string match of the terminal's text.
  StatusOr<Expr> parse_regex() {
    const size_t open = s_.pos++;
    const size_t start = s_.pos;
    while (s_.peek() != '/') {
      if (s_.at_end() || s_.peek() == '\n') return s_.error(open, "unterminated /regex/");
      s_.pos += s_.peek() == '\\' && s_.peek(1) != '\n' && s_.pos + 1 < s_.text().size() ? 2 : 1;
    }
    const std::string_view pattern = s_.text().substr(start, s_.pos - start);
    ++s_.pos;
    if (s_.name_char(s_.peek(), /*first=*/false))
      return s_.error(s_.pos, "regex flags are not supported");
    StatusOr<Expr> re = compile_regex(pattern, builder_);
    if (!re.ok()) return s_.error(open, "in /" + std::string(pattern) + "/: " + re.message());
    return re;
  }

  Scanner& s_;
  GrammarBuilder& builder_;
  Resolver resolve_;
  int depth_ = 0;
};

// ---- Names and definitions ----

struct Symbol {
  uint32_t id = 0;
  bool defined = false;
  size_t defined_at = 0;
  size_t first_use = SIZE_MAX;  // where an undefined name is reported
};

// The user's names, declared in the builder when first seen (references may come before
// definitions).
class Symbols {
 public:
  explicit Symbols(GrammarBuilder& builder) : builder_(builder) {}

  Symbol& get(std::string_view name) {
    auto it = map_.find(name);
    if (it == map_.end()) {
      Symbol s;
      s.id = builder_.declare(name);
      it = map_.emplace(std::string(name), s).first;
    }
    return it->second;
  }
  const Symbol* find(std::string_view name) const {
    auto it = map_.find(name);
    return it == map_.end() ? nullptr : &it->second;
  }

  Resolver resolver() {
    return [this](std::string_view name, size_t at) -> StatusOr<uint32_t> {
      Symbol& s = get(name);
      s.first_use = std::min(s.first_use, at);
      return s.id;
    };
  }

  // The name that is used but never defined, earliest use first; null if none.
  const std::pair<const std::string, Symbol>* first_undefined() const {
    const std::pair<const std::string, Symbol>* first = nullptr;
    for (const auto& entry : map_)
      if (!entry.second.defined && (!first || entry.second.first_use < first->second.first_use))
        first = &entry;
    return first;
  }

 private:
  GrammarBuilder& builder_;
  std::map<std::string, Symbol, std::less<>> map_;
};

// Marks `name` defined at `at`; an error if it already is.
Status define_symbol(const Scanner& scan, Symbols& symbols, std::string_view name, size_t at,
                     Symbol** out) {
  Symbol& s = symbols.get(name);
  if (s.defined)
    return scan.error(at, "'" + std::string(name) + "' is already defined (at " +
                              line_col(scan.text(), s.defined_at) + ")");
  s.defined = true;
  s.defined_at = at;
  *out = &s;
  return Status::Ok();
}

// Parses a body at the scanner and makes it the rule `sym`'s, charging its repetitions.
Status define_body(Scanner& scan, GrammarBuilder& builder, Symbols& symbols, const Symbol& sym,
                   int64_t& repeat_total) {
  BodyParser parser(scan, builder, symbols.resolver());
  StatusOr<Expr> body = parser.parse_body();
  if (!body.ok()) return body.status();
  repeat_total += detail::repeat_cost(*body);
  if (repeat_total > detail::kMaxRepeatTotal)
    return scan.error(sym.defined_at, "repetition counts add up to more than " +
                                          std::to_string(detail::kMaxRepeatTotal));
  builder.define(sym.id, std::move(*body));
  return Status::Ok();
}

// Every name used is defined, and the start rule exists; then the grammar is built (its
// errors, left recursion included, pass through as they are).
StatusOr<Grammar> finish(const Scanner& scan, const GrammarBuilder& builder, const Symbols& symbols,
                         std::string_view start) {
  if (const auto* undefined = symbols.first_undefined())
    return scan.error(undefined->second.first_use, "undefined name '" + undefined->first + "'");
  const Symbol* root = symbols.find(start);
  if (root == nullptr)
    return Status::Error(std::string(scan.lark() ? "Lark grammar" : "GBNF") + " error: no '" +
                         std::string(start) + "' rule (the start rule)");
  return builder.build(root->id);
}

// ---- GBNF ----

StatusOr<Grammar> read_gbnf(std::string_view text) {
  Scanner scan(text, Dialect::kGbnf);
  GrammarBuilder builder;
  Symbols symbols(builder);
  int64_t repeat_total = 0;
  while (true) {
    scan.skip_blank(true);
    if (scan.at_end()) break;
    const size_t at = scan.pos;
    const std::string_view name = scan.read_name();
    if (name.empty()) return scan.error(at, "expected a rule name");
    scan.skip_blank(false);
    if (!scan.looking_at("::="))
      return scan.error(scan.pos, "expected ::= after the rule name '" + std::string(name) + "'");
    scan.pos += 3;
    Symbol* sym = nullptr;
    KILN_RETURN_IF_ERROR(define_symbol(scan, symbols, name, at, &sym));
    KILN_RETURN_IF_ERROR(define_body(scan, builder, symbols, *sym, repeat_total));
  }
  return finish(scan, builder, symbols, "root");
}

// ---- Lark ----

// Lark's common.lark terminals, written in the Lark this parser reads. ESCAPED_STRING says
// directly what the original's lookbehind regex means: no unescaped quote inside.
struct CommonTerminal {
  const char* name;
  const char* body;
};
constexpr CommonTerminal kCommonTerminals[] = {
    {"DIGIT", R"("0".."9")"},
    {"HEXDIGIT", R"("a".."f" | "A".."F" | DIGIT)"},
    {"INT", R"(DIGIT+)"},
    {"SIGNED_INT", R"(["+"|"-"] INT)"},
    {"DECIMAL", R"(INT "." INT? | "." INT)"},
    {"_EXP", R"(("e"|"E") SIGNED_INT)"},
    {"FLOAT", R"(INT _EXP | DECIMAL _EXP?)"},
    {"SIGNED_FLOAT", R"(["+"|"-"] FLOAT)"},
    {"NUMBER", R"(FLOAT | INT)"},
    {"SIGNED_NUMBER", R"(["+"|"-"] NUMBER)"},
    {"_STRING_INNER", R"(/.*?/)"},
    {"_STRING_ESC_INNER", R"((/[^"\\\n]/ | "\\" /./)*)"},
    {"ESCAPED_STRING", R"("\"" _STRING_ESC_INNER "\"")"},
    {"LCASE_LETTER", R"("a".."z")"},
    {"UCASE_LETTER", R"("A".."Z")"},
    {"LETTER", R"(UCASE_LETTER | LCASE_LETTER)"},
    {"WORD", R"(LETTER+)"},
    {"CNAME", R"(("_"|LETTER) ("_"|LETTER|DIGIT)*)"},
    {"WS_INLINE", R"((" "|/\t/)+)"},
    {"WS", R"(/[ \t\f\r\n]/+)"},
    {"CR", R"(/\r/)"},
    {"LF", R"(/\n/)"},
    {"NEWLINE", R"((CR? LF)+)"},
    {"SH_COMMENT", R"(/#[^\n]*/)"},
    {"CPP_COMMENT", R"(/\/\/[^\n]*/)"},
    {"C_COMMENT", R"("/*" (/[^*]/ | "*"+ /[^*\/]/)* "*"+ "/")"},
};

// The common terminals a grammar imports, each defined (with what it uses) on first use.
class CommonLibrary {
 public:
  explicit CommonLibrary(GrammarBuilder& builder) : builder_(builder) {}

  static const CommonTerminal* find(std::string_view name) {
    for (const CommonTerminal& t : kCommonTerminals)
      if (name == t.name) return &t;
    return nullptr;
  }

  StatusOr<uint32_t> get(std::string_view name) {
    if (auto it = ids_.find(name); it != ids_.end()) return it->second;
    const CommonTerminal* t = find(name);
    if (t == nullptr)
      return Status::Error("common.lark has no terminal '" + std::string(name) + "'");
    const uint32_t id = builder_.declare(name);
    ids_.emplace(std::string(name), id);
    Scanner scan(t->body, Dialect::kLark);
    BodyParser parser(scan, builder_, [this](std::string_view used, size_t) { return get(used); });
    StatusOr<Expr> body = parser.parse_body();
    if (!body.ok()) return body.status();  // a mistake in the table above
    builder_.define(id, std::move(*body));
    return id;
  }

 private:
  GrammarBuilder& builder_;
  std::map<std::string, uint32_t, std::less<>> ids_;
};

class LarkReader {
 public:
  explicit LarkReader(std::string_view text)
      : scan_(text, Dialect::kLark), symbols_(builder_), library_(builder_) {}

  StatusOr<Grammar> read() {
    while (true) {
      scan_.skip_blank(true);
      if (scan_.at_end()) break;
      if (scan_.peek() == '%') {
        KILN_RETURN_IF_ERROR(read_directive());
      } else {
        KILN_RETURN_IF_ERROR(read_definition());
      }
    }
    return finish(scan_, builder_, symbols_, "start");
  }

 private:
  Status read_definition() {
    const size_t at = scan_.pos;
    // ?rule (inline when it has one child) and !rule (keep all tokens) shape the parse
    // tree only.
    while (scan_.peek() == '?' || scan_.peek() == '!') ++scan_.pos;
    const std::string_view name = scan_.read_name();
    if (name.empty()) return scan_.error(at, "expected a rule or terminal definition");
    if (scan_.peek() == '{') return scan_.error(at, "rule templates are not supported");
    scan_.skip_priority_and_params();  // priorities steer Lark's parser, not the language
    scan_.skip_blank(false);
    if (scan_.peek() != ':')
      return scan_.error(scan_.pos, "expected ':' after '" + std::string(name) + "'");
    ++scan_.pos;
    Symbol* sym = nullptr;
    KILN_RETURN_IF_ERROR(define_symbol(scan_, symbols_, name, at, &sym));
    return define_body(scan_, builder_, symbols_, *sym, repeat_total_);
  }

  Status read_directive() {
    const size_t at = scan_.pos++;
    const std::string directive(scan_.read_name());
    if (directive == "ignore")
      return scan_.error(at,
                         "%ignore is not supported: the output is matched byte for byte, so "
                         "write the whitespace it may contain into the rules (e.g. WS?)");
    if (directive != "import") return scan_.error(at, "%" + directive + " is not supported");
    KILN_RETURN_IF_ERROR(read_import(at));
    scan_.skip_blank(false);
    if (!scan_.at_end() && scan_.peek() != '\n')
      return scan_.error(scan_.pos, "unexpected text after %import");
    return Status::Ok();
  }

  // %import common.NAME, %import common.NAME -> ALIAS, %import common (A, B, ...)
  Status read_import(size_t at) {
    scan_.skip_blank(false);
    std::vector<std::string_view> path = {scan_.read_name()};
    while (scan_.peek() == '.') {
      ++scan_.pos;
      path.push_back(scan_.read_name());
    }
    if (path[0] != "common" || path.size() > 2 || path.back().empty())
      return scan_.error(at, "only %import common.<TERMINAL> is supported");
    scan_.skip_blank(false);
    if (path.size() == 2) {
      std::string_view alias = path[1];
      if (scan_.looking_at("->")) {
        scan_.pos += 2;
        scan_.skip_blank(false);
        alias = scan_.read_name();
        if (alias.empty()) return scan_.error(scan_.pos, "expected a name after ->");
      }
      return import_one(path[1], alias, at);
    }
    if (scan_.peek() != '(') return scan_.error(scan_.pos, "expected common.<TERMINAL> or (");
    ++scan_.pos;
    while (true) {
      scan_.skip_blank(false);
      const std::string_view name = scan_.read_name();
      if (name.empty()) return scan_.error(scan_.pos, "expected a terminal name");
      KILN_RETURN_IF_ERROR(import_one(name, name, at));
      scan_.skip_blank(false);
      if (scan_.peek() == ')') break;
      if (scan_.peek() != ',') return scan_.error(scan_.pos, "expected ',' or ')'");
      ++scan_.pos;
    }
    ++scan_.pos;
    return Status::Ok();
  }

  // The user's `alias` becomes a rule that is the common terminal `name`.
  Status import_one(std::string_view name, std::string_view alias, size_t at) {
    if (CommonLibrary::find(name) == nullptr)
      return scan_.error(at, "common.lark has no terminal '" + std::string(name) + "'");
    StatusOr<uint32_t> rule = library_.get(name);
    if (!rule.ok()) return rule.status();
    Symbol* sym = nullptr;
    KILN_RETURN_IF_ERROR(define_symbol(scan_, symbols_, alias, at, &sym));
    builder_.define(sym->id, Expr::ref(*rule));
    return Status::Ok();
  }

  Scanner scan_;
  GrammarBuilder builder_;
  Symbols symbols_;
  CommonLibrary library_;
  int64_t repeat_total_ = 0;
};

}  // namespace

StatusOr<Grammar> grammar_from_gbnf(std::string_view text) { return read_gbnf(text); }

StatusOr<Grammar> grammar_from_lark(std::string_view text) { return LarkReader(text).read(); }

StatusOr<Grammar> grammar_from_ebnf(std::string_view text) {
  if (text.find("::=") != std::string_view::npos) return grammar_from_gbnf(text);
  return grammar_from_lark(text);
}

}  // namespace kiln::structured
