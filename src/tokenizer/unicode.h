// Unicode facts the tokenizers need: UTF-8 decoding with the standard replacement policy,
// general categories (from the generated unicode_tables.cpp), the regex classes \p{L},
// \p{N} and \s as Oniguruma (Hugging Face tokenizers) defines them, and GPT-2's byte <->
// code point map for byte-level BPE. All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

// Unicode general categories; the numeric values are the generated table's encoding
// (scripts/gen_unicode_tables.py lists them in this order).
enum class UnicodeCategory : uint8_t {
  kCn = 0,
  kLu,
  kLl,
  kLt,
  kLm,
  kLo,
  kMn,
  kMc,
  kMe,
  kNd,
  kNl,
  kNo,
  kPc,
  kPd,
  kPs,
  kPe,
  kPi,
  kPf,
  kPo,
  kSm,
  kSc,
  kSk,
  kSo,
  kZs,
  kZl,
  kZp,
  kCc,
  kCf,
  kCs,
  kCo,
};

UnicodeCategory unicode_category(uint32_t cp);
const char* unicode_table_version();  // the Unicode version the tables were built from

// Character classes as bit flags, for the hand-written pre-tokenizer regexes.
enum : uint8_t {
  kCharLetter = 1,      // \p{L}: Lu Ll Lt Lm Lo
  kCharNumber = 2,      // \p{N}: Nd Nl No
  kCharWhitespace = 4,  // \s in Oniguruma: U+0009-000D, U+0085, Zs, Zl, Zp
};
uint8_t unicode_flags(uint32_t cp);

// Stands for an ill-formed UTF-8 sequence in a decoded code point array; it has no class.
constexpr uint32_t kInvalidCodepoint = 0xFFFFFFFFu;

enum class Utf8Status : uint8_t { kOk, kInvalid, kIncomplete };
struct Utf8Decoded {
  uint32_t cp;        // kInvalidCodepoint unless status is kOk
  uint32_t length;    // bytes consumed: the whole character, or the maximal ill-formed subpart
  Utf8Status status;  // kIncomplete: a valid prefix that the end of the input cut short
};
// Decodes the character starting at s[0] (n >= 1). Ill-formed input is consumed in "maximal
// subparts" (Unicode 15, section 3.9), so that each part becomes one U+FFFD, as Python's
// bytes.decode(errors="replace") and Rust's from_utf8_lossy do.
Utf8Decoded utf8_decode(const uint8_t* s, size_t n);

void utf8_append(std::string& out, uint32_t cp);
// `bytes` with every ill-formed subpart (including a cut-off tail) replaced by U+FFFD.
std::string utf8_sanitize(std::string_view bytes);
// Length of the shortest valid prefix at the end of `bytes` that still waits for more
// continuation bytes (0..3); the bytes before it are complete or definitely ill-formed.
size_t utf8_incomplete_tail(std::string_view bytes);

// GPT-2's byte-level alphabet: every byte is spelled as one printable code point
// (printable Latin-1 bytes as themselves, the rest from U+0100 up).
uint32_t byte_to_unicode(uint8_t byte);
// The byte a byte-level code point spells, or -1 if it spells none.
int unicode_to_byte(uint32_t cp);

namespace unicode_tables {
extern const char kUnicodeVersion[];
extern const size_t kCategoryRangeCount;
extern const uint32_t kCategoryRanges[];  // (first code point << 8) | category, ascending
}  // namespace unicode_tables

}  // namespace kiln
