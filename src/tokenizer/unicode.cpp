#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>

namespace kiln {

namespace {

uint8_t flags_of_category(UnicodeCategory cat) {
  switch (cat) {
    case UnicodeCategory::kLu:
    case UnicodeCategory::kLl:
    case UnicodeCategory::kLt:
    case UnicodeCategory::kLm:
    case UnicodeCategory::kLo:
      return kCharLetter;
    case UnicodeCategory::kNd:
    case UnicodeCategory::kNl:
    case UnicodeCategory::kNo:
      return kCharNumber;
    case UnicodeCategory::kZs:
    case UnicodeCategory::kZl:
    case UnicodeCategory::kZp:
      return kCharWhitespace;
    default:
      return 0;
  }
}

// Flags of the Latin-1 range, looked up on every character of typical text.
struct Latin1Flags {
  std::array<uint8_t, 256> flags{};
  Latin1Flags() {
    for (uint32_t cp = 0; cp < 256; ++cp) {
      uint8_t f = flags_of_category(unicode_category(cp));
      if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) f |= kCharWhitespace;
      flags[cp] = f;
    }
  }
};

struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 512> from_cp{};  // every byte-level code point is < 0x200
  ByteMap() {
    from_cp.fill(-1);
    uint32_t next_extra = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_cp[b] = printable ? b : next_extra++;
      from_cp[to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteMap& byte_map() {
  static const ByteMap map;
  return map;
}

}  // namespace

UnicodeCategory unicode_category(uint32_t cp) {
  if (cp > 0x10FFFF) return UnicodeCategory::kCn;
  const uint32_t* begin = unicode_tables::kCategoryRanges;
  const uint32_t* end = begin + unicode_tables::kCategoryRangeCount;
  // The last entry whose first code point is <= cp.
  const uint32_t* it = std::upper_bound(begin, end, (cp << 8) | 0xFF);
  if (it == begin) return UnicodeCategory::kCn;
  return static_cast<UnicodeCategory>(*(it - 1) & 0xFF);
}

const char* unicode_table_version() { return unicode_tables::kUnicodeVersion; }

uint8_t unicode_flags(uint32_t cp) {
  static const Latin1Flags latin1;
  if (cp < 256) return latin1.flags[cp];
  if (cp == kInvalidCodepoint) return 0;
  return flags_of_category(unicode_category(cp));
}

Utf8Decoded utf8_decode(const uint8_t* s, size_t n) {
  const uint8_t b0 = s[0];
  if (b0 < 0x80) return {b0, 1, Utf8Status::kOk};
  uint32_t need;  // continuation bytes after the lead
  uint32_t cp;
  uint8_t lo = 0x80;  // allowed range of the first continuation byte
  uint8_t hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {kInvalidCodepoint, 1, Utf8Status::kInvalid};
  }
  for (uint32_t i = 1; i <= need; ++i) {
    if (i >= n) return {kInvalidCodepoint, i, Utf8Status::kIncomplete};
    const uint8_t b = s[i];
    const uint8_t min = i == 1 ? lo : 0x80;
    const uint8_t max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return {kInvalidCodepoint, i, Utf8Status::kInvalid};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, need + 1, Utf8Status::kOk};
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_sanitize(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t i = 0;
  while (i < bytes.size()) {
    const Utf8Decoded d = utf8_decode(p + i, bytes.size() - i);
    if (d.status == Utf8Status::kOk) {
      out.append(bytes.data() + i, d.length);
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += d.length;
  }
  return out;
}

size_t utf8_incomplete_tail(std::string_view bytes) {
  // A cut-off character is at most 3 bytes long, so only the last 3 lead positions matter.
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const size_t start = n - back;
    if ((p[start] & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const Utf8Decoded d = utf8_decode(p + start, back);
    return d.status == Utf8Status::kIncomplete ? back : 0;
  }
  return 0;
}

uint32_t byte_to_unicode(uint8_t byte) { return byte_map().to_cp[byte]; }

int unicode_to_byte(uint32_t cp) {
  if (cp >= 512) return -1;
  return byte_map().from_cp[cp];
}

}  // namespace kiln
