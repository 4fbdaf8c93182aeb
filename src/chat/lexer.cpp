// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/lexer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

#include "chat/py_string.h"

namespace kiln::chat {
namespace {

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Python's "unicode-escape" decoding of a literal's body (as jinja2 applies it).
std::string unescape(std::string_view raw, SourcePos pos) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    const char c = raw[i];
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= raw.size()) throw TemplateError("\\ at end of string", pos);
    const char n = raw[i + 1];
    i += 2;
    switch (n) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = n == 'x' ? 2 : n == 'u' ? 4 : 8;
        if (i + digits > raw.size() ||
            !std::all_of(raw.begin() + i, raw.begin() + i + digits, is_hex)) {
          throw TemplateError(std::string("truncated \\") + n + " escape in string literal", pos);
        }
        uint32_t cp = 0;
        std::from_chars(raw.data() + i, raw.data() + i + digits, cp, 16);
        if (cp > 0x10FFFF) throw TemplateError("illegal Unicode character in string literal", pos);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        py::append_utf8(out, cp);
        i += digits;
        break;
      }
      case 'N':
        throw TemplateError("\\N{...} escapes are not supported by kiln", pos);
      default:
        if (n >= '0' && n <= '7') {
          uint32_t cp = static_cast<uint32_t>(n - '0');
          for (int k = 0; k < 2 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++k, ++i) {
            cp = cp * 8 + static_cast<uint32_t>(raw[i] - '0');
          }
          py::append_utf8(out, cp);
        } else if (static_cast<unsigned char>(n) >= 0x80) {
          // jinja2 first rewrites non-ASCII characters as \x../\u.. escapes, so a backslash
          // before one stays a backslash and the character becomes its escape text.
          size_t j = i - 1;
          const std::u32string cps = py::decode(raw.substr(j, 4));
          size_t len = 1;
          while (j + len < raw.size() && (static_cast<unsigned char>(raw[j + len]) & 0xC0) == 0x80)
            ++len;
          char buf[16];
          const char32_t cp = cps.empty() ? 0xFFFD : cps[0];
          std::snprintf(buf, sizeof(buf),
                        cp <= 0xFF     ? "\\x%02x"
                        : cp <= 0xFFFF ? "\\u%04x"
                                       : "\\U%08x",
                        static_cast<unsigned>(cp));
          out += '\\';
          out += buf;
          i = j + len;
        } else {
          out += '\\';
          out += n;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view source) : src_(normalize_newlines(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const size_t tag = find_tag_start(pos_);
      if (tag == std::string::npos) {
        emit_data(pos_, std::string_view(src_).substr(pos_));
        break;
      }
      const char kind = src_[tag + 1];
      size_t after = tag + 2;
      char sign = 0;
      if (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) sign = src_[after++];
      std::optional<size_t> raw_end;
      if (kind == '%') raw_end = match_raw_begin(after);
      emit_text_before_tag(pos_, tag, sign, kind == '{');
      line_starting_ = false;
      if (raw_end) {
        line_starting_ = src_[*raw_end - 1] == '\n';
        lex_raw(*raw_end, pos_at(tag));
      } else if (kind == '#') {
        lex_comment(after, pos_at(tag));
      } else {
        lex_tag(after, kind == '%', pos_at(tag));
      }
    }
    Token eof;
    eof.type = TokenType::kEof;
    eof.pos = pos_at(src_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  SourcePos pos_at(size_t offset) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
    const size_t start = line_starts_[line_index];
    const std::string_view before = std::string_view(src_).substr(start, offset - start);
    return SourcePos{static_cast<int>(line_index) + 1, static_cast<int>(py::length(before)) + 1};
  }

  [[noreturn]] void fail(const std::string& message, size_t offset) const {
    throw TemplateError(message, pos_at(offset));
  }

  size_t find_tag_start(size_t from) const {
    size_t i = from;
    while (true) {
      i = src_.find('{', i);
      if (i == std::string::npos || i + 1 >= src_.size()) return std::string::npos;
      const char c = src_[i + 1];
      if (c == '{' || c == '%' || c == '#') return i;
      ++i;
    }
  }

  // Byte length of the whitespace character at i (Python's \s), or 0.
  size_t space_len_at(size_t i) const {
    const auto c = static_cast<unsigned char>(src_[i]);
    if (c < 0x80) return py::is_space(c) ? 1 : 0;
    size_t len = 1;
    while (i + len < src_.size() && (static_cast<unsigned char>(src_[i + len]) & 0xC0) == 0x80)
      ++len;
    const std::u32string cp = py::decode(std::string_view(src_).substr(i, len));
    return (cp.size() == 1 && py::is_space(cp[0])) ? len : 0;
  }

  size_t skip_spaces(size_t i) const {
    while (i < src_.size()) {
      const size_t n = space_len_at(i);
      if (n == 0) break;
      i += n;
    }
    return i;
  }

  // Matches `\s*raw\s*(-%}\s*|%})` at i; returns the end offset.
  std::optional<size_t> match_raw_begin(size_t i) const {
    i = skip_spaces(i);
    if (src_.compare(i, 3, "raw") != 0) return std::nullopt;
    i = skip_spaces(i + 3);
    if (src_.compare(i, 3, "-%}") == 0) return skip_spaces(i + 3);
    if (src_.compare(i, 2, "%}") == 0) return i + 2;
    return std::nullopt;
  }

  void emit_data(size_t offset, std::string_view text) {
    if (text.empty()) return;
    Token t;
    t.type = TokenType::kData;
    t.value = std::string(text);
    t.pos = pos_at(offset);
    tokens_.push_back(std::move(t));
  }

  // The text between `from` and a tag start at `tag`, with "-" stripping or lstrip_blocks.
  void emit_text_before_tag(size_t from, size_t tag, char sign, bool is_variable) {
    std::string text(std::string_view(src_).substr(from, tag - from));
    if (sign == '-') {
      text = py::strip(text, std::nullopt, false, true);
    } else if (sign != '+' && !is_variable) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && l_pos < text.size() &&
          py::strip(std::string_view(text).substr(l_pos), std::nullopt, true, true).empty()) {
        text.resize(l_pos);
      }
    }
    emit_data(from, text);
  }

  void push(TokenType type, size_t offset, std::string value = {}) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    t.pos = pos_at(offset);
    tokens_.push_back(std::move(t));
  }

  void lex_comment(size_t i, SourcePos open_pos) {
    const size_t close = src_.find("#}", i);
    if (close == std::string::npos) {
      throw TemplateError("missing end of comment tag", open_pos);
    }
    char sign = 0;
    if (close > i && (src_[close - 1] == '-' || src_[close - 1] == '+')) sign = src_[close - 1];
    size_t end = close + 2;
    if (sign == '-') {
      end = skip_spaces(end);
    } else if (sign != '+' && end < src_.size() && src_[end] == '\n') {
      ++end;  // trim_blocks
    }
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
  }

  void lex_raw(size_t i, SourcePos open_pos) {
    size_t search = i;
    while (true) {
      const size_t tag = src_.find("{%", search);
      if (tag == std::string::npos) throw TemplateError("missing end of raw directive", open_pos);
      size_t j = tag + 2;
      char sign = 0;
      if (j < src_.size() && (src_[j] == '-' || src_[j] == '+')) sign = src_[j++];
      j = skip_spaces(j);
      if (src_.compare(j, 6, "endraw") == 0) {
        j = skip_spaces(j + 6);
        std::optional<size_t> end;
        if (src_.compare(j, 3, "+%}") == 0) {
          end = j + 3;
        } else if (src_.compare(j, 3, "-%}") == 0) {
          end = skip_spaces(j + 3);
        } else if (src_.compare(j, 2, "%}") == 0) {
          end = j + 2;
          if (*end < src_.size() && src_[*end] == '\n') ++*end;
        }
        if (end) {
          emit_text_before_tag(i, tag, sign, false);
          line_starting_ = src_[*end - 1] == '\n';
          pos_ = *end;
          return;
        }
      }
      search = tag + 2;
    }
  }

  // `(\d+_)*\d+` at i: the end offset, or i when there is no digit.
  size_t match_digits(size_t i) const {
    auto is_digit = [&](size_t k) { return k < src_.size() && src_[k] >= '0' && src_[k] <= '9'; };
    size_t k = i;
    while (is_digit(k)) {
      while (is_digit(k)) ++k;
      if (k < src_.size() && src_[k] == '_' && is_digit(k + 1)) ++k;
    }
    return k;
  }

  static std::string without_underscores(std::string_view s) {
    std::string out;
    for (char c : s) {
      if (c != '_') out += c;
    }
    return out;
  }

  bool lex_number(size_t& i) {
    const char c = src_[i];
    if (c < '0' || c > '9') return false;
    // Float first, as jinja2 does (not right after a '.').
    if (i == 0 || src_[i - 1] != '.') {
      const size_t int_end = match_digits(i);
      size_t end = std::string::npos;
      size_t j = int_end;
      if (j < src_.size() && src_[j] == '.' && match_digits(j + 1) > j + 1) {
        j = match_digits(j + 1);
        end = j;  // fraction
      }
      if (j < src_.size() && (src_[j] == 'e' || src_[j] == 'E')) {
        size_t k = j + 1;
        if (k < src_.size() && (src_[k] == '+' || src_[k] == '-')) ++k;
        const size_t exp_end = match_digits(k);
        if (exp_end > k) end = exp_end;
      }
      if (end != std::string::npos) {
        const std::string text = without_underscores(std::string_view(src_).substr(i, end - i));
        Token t;
        t.type = TokenType::kFloat;
        std::from_chars(text.data(), text.data() + text.size(), t.float_value);
        t.pos = pos_at(i);
        tokens_.push_back(std::move(t));
        i = end;
        return true;
      }
    }
    int base = 10;
    size_t digits_start = i;
    size_t end = i;
    auto digit_ok = [&](char d) {
      if (base == 2) return d == '0' || d == '1';
      if (base == 8) return d >= '0' && d <= '7';
      if (base == 16) return is_hex(d);
      return d >= '0' && d <= '9';
    };
    if (c == '0' && i + 1 < src_.size() &&
        std::string_view("bBoOxX").find(src_[i + 1]) != std::string_view::npos) {
      const char p = static_cast<char>(src_[i + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
      digits_start = end = i + 2;
      while (end < src_.size()) {
        if (src_[end] == '_' && end + 1 < src_.size() && digit_ok(src_[end + 1])) {
          end += 2;
        } else if (digit_ok(src_[end])) {
          ++end;
        } else {
          break;
        }
      }
      if (end == digits_start) {
        base = 10;
        end = i + 1;  // just "0"
        digits_start = i;
      }
    } else if (c == '0') {
      end = i + 1;
      while (end < src_.size()) {
        if (src_[end] == '0') {
          ++end;
        } else if (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0') {
          end += 2;
        } else {
          break;
        }
      }
    } else {
      end = match_digits(i);
    }
    const std::string text =
        without_underscores(std::string_view(src_).substr(digits_start, end - digits_start));
    Token t;
    t.type = TokenType::kInteger;
    t.pos = pos_at(i);
    const auto res = std::from_chars(text.data(), text.data() + text.size(), t.int_value, base);
    if (res.ec != std::errc()) fail("integer literal too large (kiln integers are 64-bit)", i);
    tokens_.push_back(std::move(t));
    i = end;
    return true;
  }

  static bool is_name_start(unsigned char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
  }
  static bool is_name_char(unsigned char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

  void lex_tag(size_t i, bool is_block, SourcePos open_pos) {
    tokens_.push_back(
        Token{is_block ? TokenType::kBlockBegin : TokenType::kVariableBegin, {}, 0, 0, open_pos});
    std::vector<char> balance;
    while (true) {
      if (i >= src_.size()) {
        throw TemplateError(std::string("unexpected end of template: the '") +
                                (is_block ? "{%" : "{{") + "' tag is never closed",
                            open_pos);
      }
      if (balance.empty()) {
        std::optional<size_t> end;
        if (is_block) {
          if (src_.compare(i, 3, "+%}") == 0) {
            end = i + 3;
          } else if (src_.compare(i, 3, "-%}") == 0) {
            end = skip_spaces(i + 3);
          } else if (src_.compare(i, 2, "%}") == 0) {
            end = i + 2;
            if (*end < src_.size() && src_[*end] == '\n') ++*end;  // trim_blocks
          }
        } else {
          if (src_.compare(i, 3, "-}}") == 0) {
            end = skip_spaces(i + 3);
          } else if (src_.compare(i, 2, "}}") == 0) {
            end = i + 2;
          }
        }
        if (end) {
          push(is_block ? TokenType::kBlockEnd : TokenType::kVariableEnd, i);
          line_starting_ = src_[*end - 1] == '\n';
          pos_ = *end;
          return;
        }
      }
      if (const size_t ws = space_len_at(i); ws > 0) {
        i += ws;
        continue;
      }
      const auto c = static_cast<unsigned char>(src_[i]);
      if (lex_number(i)) continue;
      if (is_name_start(c)) {
        size_t j = i + 1;
        while (j < src_.size() && is_name_char(static_cast<unsigned char>(src_[j]))) ++j;
        push(TokenType::kName, i, src_.substr(i, j - i));
        i = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (j < src_.size() && src_[j] != static_cast<char>(c)) j += src_[j] == '\\' ? 2 : 1;
        if (j >= src_.size()) fail("unterminated string literal", i);
        const SourcePos pos = pos_at(i);
        Token t;
        t.type = TokenType::kString;
        t.value = unescape(std::string_view(src_).substr(i + 1, j - i - 1), pos);
        t.pos = pos;
        tokens_.push_back(std::move(t));
        i = j + 1;
        continue;
      }
      static constexpr std::string_view kTwoCharOps[] = {"**", "//", "==", "!=", ">=", "<="};
      bool matched = false;
      for (std::string_view op : kTwoCharOps) {
        if (src_.compare(i, 2, op) == 0) {
          push(TokenType::kOperator, i, std::string(op));
          i += 2;
          matched = true;
          break;
        }
      }
      if (matched) continue;
      if (std::string_view("+-/*%~[](){}><=.:|,;").find(static_cast<char>(c)) !=
          std::string_view::npos) {
        if (c == '(' || c == '[' || c == '{') {
          balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
        } else if (c == ')' || c == ']' || c == '}') {
          if (balance.empty()) fail(std::string("unexpected '") + static_cast<char>(c) + "'", i);
          if (balance.back() != static_cast<char>(c)) {
            fail(std::string("unexpected '") + static_cast<char>(c) + "', expected '" +
                     balance.back() + "'",
                 i);
          }
          balance.pop_back();
        }
        push(TokenType::kOperator, i, std::string(1, static_cast<char>(c)));
        ++i;
        continue;
      }
      fail(std::string("unexpected character '") + static_cast<char>(c) + "'", i);
    }
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace kiln::chat
