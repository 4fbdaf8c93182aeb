#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/unicode.h"

namespace kiln {

namespace {

// One regex match over code points [i, n) of a piece; each returns the end of the match
// starting at i (always > i: every regex here ends in alternatives that match any char).
struct Cursor {
  const uint32_t* cps;
  const uint8_t* flags;

  bool letter(size_t i) const { return flags[i] & kCharLetter; }
  bool number(size_t i) const { return flags[i] & kCharNumber; }
  bool space(size_t i) const { return flags[i] & kCharWhitespace; }
  // [^\s\p{L}\p{N}]
  bool other(size_t i) const {
    return (flags[i] & (kCharLetter | kCharNumber | kCharWhitespace)) == 0;
  }
  bool newline(size_t i) const { return cps[i] == '\r' || cps[i] == '\n'; }
};

// 's|'t|'re|'ve|'m|'ll|'d, optionally case-insensitive as Oniguruma folds case (which
// also folds U+017F LATIN SMALL LETTER LONG S to 's').
size_t match_contraction(const Cursor& c, size_t i, size_t n, bool ignore_case) {
  if (c.cps[i] != '\'' || i + 1 >= n) return 0;
  auto fold = [&](uint32_t cp) -> uint32_t {
    if (!ignore_case) return cp;
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if (cp == 0x17F) return 's';
    return cp;
  };
  const uint32_t a = fold(c.cps[i + 1]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  if (i + 2 >= n) return 0;
  const uint32_t b = fold(c.cps[i + 2]);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace character i: the run, less its last character when a
// non-space follows it (that character then joins the next word), but at least one.
size_t match_trailing_space(const Cursor& c, size_t i, size_t n) {
  size_t j = i;
  while (j < n && c.space(j)) ++j;
  if (j == n) return j;
  return j - 1 > i ? j - 1 : i + 1;
}

size_t match_gpt2(const Cursor& c, size_t i, size_t n) {
  if (size_t end = match_contraction(c, i, n, /*ignore_case=*/false)) return end;
  const size_t k = (c.cps[i] == ' ' && i + 1 < n) ? i + 1 : i;  // the optional ' '
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': with the space if the class follows it,
  // else (after backtracking) without it, where ' ' itself never fits the class.
  if (c.letter(k)) {
    size_t j = k;
    while (j < n && c.letter(j)) ++j;
    return j;
  }
  if (c.number(k)) {
    size_t j = k;
    while (j < n && c.number(j)) ++j;
    return j;
  }
  if (c.other(k)) {
    size_t j = k;
    while (j < n && c.other(j)) ++j;
    return j;
  }
  if (c.space(i)) return match_trailing_space(c, i, n);
  return i + 1;
}

size_t match_llama3(const Cursor& c, size_t i, size_t n, size_t max_digits) {
  if (size_t end = match_contraction(c, i, n, /*ignore_case=*/true)) return end;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.letter(i)) {
    size_t j = i;
    while (j < n && c.letter(j)) ++j;
    return j;
  }
  if (!c.number(i) && !c.newline(i) && i + 1 < n && c.letter(i + 1)) {
    size_t j = i + 1;
    while (j < n && c.letter(j)) ++j;
    return j;
  }
  // \p{N}{1,max_digits}
  if (c.number(i)) {
    size_t j = i;
    while (j < n && j - i < max_digits && c.number(j)) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t k = (c.cps[i] == ' ' && i + 1 < n) ? i + 1 : i;
  if (c.other(k)) {
    size_t j = k;
    while (j < n && c.other(j)) ++j;
    while (j < n && c.newline(j)) ++j;
    return j;
  }
  if (c.space(i)) {
    // \s*[\r\n]+: the whitespace run up to and including its last line break.
    size_t run_end = i;
    while (run_end < n && c.space(run_end)) ++run_end;
    for (size_t p = run_end; p > i; --p) {
      if (c.newline(p - 1)) return p;
    }
    return match_trailing_space(c, i, n);
  }
  return i + 1;
}

void split_piece(PreTokenizerKind kind, const Cursor& c, size_t begin, size_t end,
                 const std::vector<uint32_t>& offsets, std::vector<WordSpan>& words) {
  size_t i = begin;
  while (i < end) {
    size_t j;
    switch (kind) {
      case PreTokenizerKind::kLlama3:
        j = match_llama3(c, i, end, 3);
        break;
      case PreTokenizerKind::kQwen2:
        j = match_llama3(c, i, end, 1);
        break;
      default:
        j = match_gpt2(c, i, end);
        break;
    }
    words.push_back({offsets[i], offsets[j]});
    i = j;
  }
}

struct NamedKind {
  const char* name;
  PreTokenizerKind kind;
};

// NOTE: aliases are the tokenizer.ggml.pre names llama.cpp gives these same splits. Qwen2's
// tokenizer.json also applies NFC normalization, which kiln does not (text that is already
// NFC, as nearly all text is, tokenizes the same).
constexpr NamedKind kNames[] = {
    {"default", PreTokenizerKind::kGpt2},
    {"gpt2", PreTokenizerKind::kGpt2},
    {"gpt-2", PreTokenizerKind::kGpt2},
    {"smollm", PreTokenizerKind::kSmolLm},
    {"starcoder", PreTokenizerKind::kSmolLm},
    {"refact", PreTokenizerKind::kSmolLm},
    {"llama-bpe", PreTokenizerKind::kLlama3},
    {"llama3", PreTokenizerKind::kLlama3},
    {"llama-v3", PreTokenizerKind::kLlama3},
    {"smaug-bpe", PreTokenizerKind::kLlama3},
    {"falcon3", PreTokenizerKind::kLlama3},
    {"qwen2", PreTokenizerKind::kQwen2},
    {"deepseek-r1-qwen", PreTokenizerKind::kQwen2},
};

}  // namespace

StatusOr<PreTokenizerKind> pre_tokenizer_from_name(std::string_view name) {
  if (name.empty()) return PreTokenizerKind::kGpt2;
  for (const NamedKind& n : kNames) {
    if (name == n.name) return n.kind;
  }
  std::string known;
  for (const NamedKind& n : kNames) known += std::string(known.empty() ? "" : ", ") + n.name;
  return Status::Error("unsupported pre-tokenizer tokenizer.ggml.pre = \"" + std::string(name) +
                       "\" (kiln knows: " + known + ")");
}

const char* pre_tokenizer_name(PreTokenizerKind kind) {
  switch (kind) {
    case PreTokenizerKind::kGpt2:
      return "gpt2";
    case PreTokenizerKind::kSmolLm:
      return "smollm";
    case PreTokenizerKind::kLlama3:
      return "llama-bpe";
    case PreTokenizerKind::kQwen2:
      return "qwen2";
  }
  return "?";
}

void pre_tokenize(PreTokenizerKind kind, std::string_view text, PreTokenizerScratch& scratch,
                  std::vector<WordSpan>& words) {
  words.clear();
  auto& cps = scratch.cps;
  auto& offsets = scratch.offsets;
  auto& flags = scratch.flags;
  cps.clear();
  offsets.clear();
  flags.clear();
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  for (size_t i = 0; i < text.size();) {
    const Utf8Decoded d = utf8_decode(p + i, text.size() - i);
    cps.push_back(d.cp);
    offsets.push_back(static_cast<uint32_t>(i));
    flags.push_back(unicode_flags(d.cp));
    i += d.length;
  }
  offsets.push_back(static_cast<uint32_t>(text.size()));
  const Cursor c{cps.data(), flags.data()};
  const size_t n = cps.size();
  if (kind != PreTokenizerKind::kSmolLm) {
    split_piece(kind, c, 0, n, offsets, words);
    return;
  }
  // Digits(individual_digits=true) first: each number character is a word of its own and
  // the GPT-2 regex runs on the text between them, which ends each such piece.
  size_t begin = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!c.number(i)) continue;
    split_piece(PreTokenizerKind::kGpt2, c, begin, i, offsets, words);
    words.push_back({offsets[i], offsets[i + 1]});
    begin = i + 1;
  }
  split_piece(PreTokenizerKind::kGpt2, c, begin, n, offsets, words);
}

}  // namespace kiln
