// NOTE: GCC 12 at -O3 reports false -Wrestrict errors inside std::string's operator+
// ("literal" + std::string); GCC bug 105329.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include "chat/py_string.h"

#include <algorithm>
#include <cstdio>

namespace kiln::chat::py {
namespace {

constexpr char32_t kEscapedByteBase = 0xDC00;  // lone surrogates stand for invalid bytes

// One code point from s at i (advancing i); invalid sequences yield one escaped byte.
char32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  }
  if (len == 0 || i + len > s.size()) {
    ++i;
    return kEscapedByteBase + b0;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kEscapedByteBase + b0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  const bool overlong =
      (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kEscapedByteBase + b0;
  }
  i += len;
  return cp;
}

struct CaseRange {
  char32_t first_upper;
  char32_t last_upper;
  int32_t delta;  // lower = upper + delta
};

// Ranges where every code point maps by a constant offset.
constexpr CaseRange kOffsetRanges[] = {
    {0x41, 0x5A, 32},   {0xC0, 0xD6, 32},   {0xD8, 0xDE, 32},     {0x391, 0x3A1, 32},
    {0x3A3, 0x3AB, 32}, {0x388, 0x38A, 37}, {0x38E, 0x38F, 63},   {0x410, 0x42F, 32},
    {0x400, 0x40F, 80}, {0x531, 0x556, 48}, {0xFF21, 0xFF3A, 32}, {0x10A0, 0x10C5, 7264},
};

// Ranges of alternating pairs: upper at even (or odd) offsets, lower right after it.
struct PairRange {
  char32_t first;
  char32_t last;
};
constexpr PairRange kPairRanges[] = {
    {0x100, 0x12F}, {0x132, 0x137},   {0x139, 0x148},   {0x14A, 0x177}, {0x179, 0x17E},
    {0x182, 0x185}, {0x1A0, 0x1A5},   {0x1CD, 0x1DC},   {0x1DE, 0x1EF}, {0x1F8, 0x21F},
    {0x222, 0x233}, {0x3D8, 0x3EF},   {0x460, 0x481},   {0x48A, 0x4BF}, {0x4C1, 0x4CE},
    {0x4D0, 0x52F}, {0x1E00, 0x1E95}, {0x1EA0, 0x1EFF},
};

// Single mappings that fit neither table: {upper, lower}.
constexpr std::pair<char32_t, char32_t> kSinglePairs[] = {
    {0x178, 0xFF},  {0x386, 0x3AC}, {0x38C, 0x3CC}, {0x4C0, 0x4CF},
    {0x1C4, 0x1C6}, {0x1C7, 0x1C9}, {0x1CA, 0x1CC}, {0x1F1, 0x1F3},
};

// The titlecase digraphs (Dž, Lj, Nj, Dz): upper, title, lower are consecutive.
bool is_titlecase_digraph(char32_t c) {
  return c == 0x1C5 || c == 0x1C8 || c == 0x1CB || c == 0x1F2;
}
std::optional<char32_t> digraph_title(char32_t c) {
  for (char32_t t : {0x1C5, 0x1C8, 0x1CB, 0x1F2}) {
    if (c == t - 1 || c == t || c == t + 1) return t;
  }
  return std::nullopt;
}

std::optional<char32_t> simple_lower(char32_t c) {
  if (is_titlecase_digraph(c)) return c + 1;
  for (const auto& r : kOffsetRanges) {
    if (c >= r.first_upper && c <= r.last_upper) return c + r.delta;
  }
  for (const auto& r : kPairRanges) {
    if (c >= r.first && c <= r.last && ((c - r.first) % 2 == 0)) return c + 1;
  }
  for (const auto& [u, l] : kSinglePairs) {
    if (c == u) return l;
  }
  return std::nullopt;
}

std::optional<char32_t> simple_upper(char32_t c) {
  if (is_titlecase_digraph(c)) return c - 1;
  for (const auto& r : kOffsetRanges) {
    if (c >= r.first_upper + r.delta && c <= r.last_upper + r.delta) return c - r.delta;
  }
  for (const auto& r : kPairRanges) {
    if (c > r.first && c <= r.last && ((c - r.first) % 2 == 1)) return c - 1;
  }
  for (const auto& [u, l] : kSinglePairs) {
    if (c == l) return u;
  }
  switch (c) {
    case 0xB5:
      return 0x39C;  // micro sign
    case 0x131:
      return 0x49;  // dotless i
    case 0x17F:
      return 0x53;  // long s
    case 0x3C2:
      return 0x3A3;  // final sigma
    default:
      return std::nullopt;
  }
}

void append_upper(std::u32string& out, char32_t c) {
  if (c == 0xDF) {  // sharp s
    out += U"SS";
    return;
  }
  if (c == 0x149) {  // n preceded by apostrophe
    out += U"\u02BCN";
    return;
  }
  out += simple_upper(c).value_or(c);
}

bool is_printable(char32_t c) {
  if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
  if (c >= 0xD800 && c <= 0xDFFF) return false;  // escaped bytes
  if ((c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E)
    return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200F) || (c >= 0x2028 && c <= 0x202F)) return false;
  if ((c >= 0x205F && c <= 0x2064) || (c >= 0x2066 && c <= 0x206F) || c == 0x3000) return false;
  if (c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || (c >= 0xE000 && c <= 0xF8FF)) return false;
  if (c >= 0xF0000 || c == 0xE0001 || (c >= 0xE0020 && c <= 0xE007F)) return false;
  return true;
}

bool char_in(char32_t c, std::u32string_view set) {
  return set.find(c) != std::u32string_view::npos;
}

}  // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp >= kEscapedByteBase + 0x80 && cp <= kEscapedByteBase + 0xFF) {
    out += static_cast<char>(cp - kEscapedByteBase);
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::u32string decode(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  size_t i = 0;
  while (i < utf8.size()) out += next_code_point(utf8, i);
  return out;
}

std::string encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

int64_t length(std::string_view s) {
  if (is_ascii(s)) return static_cast<int64_t>(s.size());
  int64_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    next_code_point(s, i);
    ++n;
  }
  return n;
}

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

bool is_upper_char(char32_t c) { return simple_lower(c).has_value() && !is_titlecase_digraph(c); }
bool is_lower_char(char32_t c) {
  return (simple_upper(c).has_value() && !is_titlecase_digraph(c)) || c == 0xDF || c == 0x149;
}
bool is_cased(char32_t c) {
  return is_upper_char(c) || is_lower_char(c) || is_titlecase_digraph(c);
}

bool is_digit(char32_t c) { return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19); }

bool is_alpha(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (is_cased(c)) return true;
  if (c == 0xAA || c == 0xBA) return true;
  if (c >= 0xC0 && c <= 0x24F) return c != 0xD7 && c != 0xF7;
  // Letters of caseless scripts: Hebrew, Arabic, Devanagari..Thai, Hangul, kana, CJK.
  return (c >= 0x5D0 && c <= 0x5EA) || (c >= 0x620 && c <= 0x64A) || (c >= 0x904 && c <= 0x939) ||
         (c >= 0xE01 && c <= 0xE30) || (c >= 0x3041 && c <= 0x3096) ||
         (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7A3) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FA1F);
}

bool is_word_char(char32_t c) { return c == '_' || is_alpha(c) || is_digit(c); }

std::u32string to_upper(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) append_upper(out, c);
  return out;
}

std::u32string to_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == 0x3A3) {
      // Final sigma: a capital sigma after a cased letter and not before one.
      const bool after_cased = i > 0 && is_cased(s[i - 1]);
      const bool before_cased = i + 1 < s.size() && is_cased(s[i + 1]);
      out += (after_cased && !before_cased) ? char32_t{0x3C2} : char32_t{0x3C3};
    } else if (c == 0x130) {  // capital I with dot above
      out += U"i\u0307";
    } else {
      out += simple_lower(c).value_or(c);
    }
  }
  return out;
}

std::string upper(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    }
    return out;
  }
  return encode(to_upper(decode(s)));
}

std::string lower(std::string_view s) {
  if (is_ascii(s)) {
    std::string out(s);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    }
    return out;
  }
  return encode(to_lower(decode(s)));
}

std::string capitalize(std::string_view s) {
  const std::u32string text = decode(s);
  if (text.empty()) return "";
  std::u32string out;
  if (const auto t = digraph_title(text[0])) {
    out += *t;  // str.capitalize() uses the titlecase form
  } else {
    out = to_upper(text.substr(0, 1));
  }
  out += to_lower(std::u32string_view(text).substr(1));
  return encode(out);
}

std::string title(std::string_view s) {
  const std::u32string text = decode(s);
  std::u32string out;
  bool previous_cased = false;
  for (char32_t c : text) {
    if (previous_cased) {
      out += simple_lower(c).value_or(c);
    } else if (const auto t = digraph_title(c)) {
      out += *t;
    } else {
      append_upper(out, c);
    }
    previous_cased = is_cased(c);
  }
  return encode(out);
}

std::string swapcase(std::string_view s) {
  std::u32string out;
  for (char32_t c : decode(s)) {
    if (is_upper_char(c)) {
      out += simple_lower(c).value_or(c);
    } else if (is_lower_char(c)) {
      append_upper(out, c);
    } else {
      out += c;
    }
  }
  return encode(out);
}

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right) {
  const std::u32string text = decode(s);
  const std::u32string set = chars ? decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? char_in(c, set) : is_space(c); };
  size_t begin = 0;
  size_t end = text.size();
  if (left) {
    while (begin < end && strip_it(text[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(text[end - 1])) --end;
  }
  return encode(std::u32string_view(text).substr(begin, end - begin));
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t at = s.find(*sep, start);
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(start, at - start));
      start = at + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  const std::u32string text = decode(s);
  size_t i = 0;
  const size_t n = text.size();
  while (true) {
    while (i < n && is_space(text[i])) ++i;
    if (i == n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.push_back(encode(std::u32string_view(text).substr(i)));  // keeps trailing space
      break;
    }
    size_t j = i;
    while (j < n && !is_space(text[j])) ++j;
    out.push_back(encode(std::u32string_view(text).substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep,
                                int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      const size_t at = s.rfind(*sep, end - sep->size());
      if (at == std::string_view::npos) break;
      out.emplace_back(s.substr(at + sep->size(), end - at - sep->size()));
      end = at;
    }
    out.emplace_back(s.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  const std::u32string text = decode(s);
  size_t j = text.size();
  while (true) {
    while (j > 0 && is_space(text[j - 1])) --j;
    if (j == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      out.push_back(encode(std::u32string_view(text).substr(0, j)));  // keeps leading space
      break;
    }
    size_t i = j;
    while (i > 0 && !is_space(text[i - 1])) --i;
    out.push_back(encode(std::u32string_view(text).substr(i, j - i)));
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  const std::u32string text = decode(s);
  std::vector<std::string> out;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_line_break(text[i])) {
      ++i;
      continue;
    }
    size_t brk_end = i + 1;
    if (text[i] == '\r' && brk_end < text.size() && text[brk_end] == '\n') ++brk_end;
    const size_t end = keepends ? brk_end : i;
    out.push_back(encode(std::u32string_view(text).substr(start, end - start)));
    start = i = brk_end;
  }
  if (start < text.size()) out.push_back(encode(std::u32string_view(text).substr(start)));
  return out;
}

std::string replace(std::string_view s, std::string_view old_text, std::string_view new_text,
                    int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts `new` before every character and at the end.
    const std::u32string text = decode(s);
    int64_t done = 0;
    for (char32_t c : text) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      append_utf8(out, c);
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old_text, start);
    if (at == std::string_view::npos) break;
    out.append(s.substr(start, at - start));
    out.append(new_text);
    start = at + old_text.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t find(std::string_view s, std::string_view sub) {
  const size_t at = s.find(sub);
  return at == std::string_view::npos ? -1 : length(s.substr(0, at));
}

int64_t rfind(std::string_view s, std::string_view sub) {
  const size_t at = s.rfind(sub);
  return at == std::string_view::npos ? -1 : length(s.substr(0, at));
}

int64_t count(std::string_view s, std::string_view sub) {
  if (sub.empty()) return length(s) + 1;
  int64_t n = 0;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sub, start);
    if (at == std::string_view::npos) return n;
    ++n;
    start = at + sub.size();
  }
}

std::string repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  size_t i = 0;
  char buf[16];
  while (i < s.size()) {
    const char32_t c = next_code_point(s, i);
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (is_printable(c)) {
      append_utf8(out, c);
    } else if (c <= 0xFF) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c <= 0xFFFF) {
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      std::snprintf(buf, sizeof(buf), "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  const auto c0 = static_cast<unsigned char>(s[0]);
  if (!(c0 == '_' || (c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 >= 0x80))
    return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c >= 0x80))
      return false;
  }
  return true;
}

}  // namespace kiln::chat::py
