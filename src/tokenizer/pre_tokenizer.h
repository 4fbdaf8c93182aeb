// The pre-tokenizers of byte-level BPE vocabularies (tokenizer.ggml.pre): each splits text
// into words that BPE then encodes independently. The splitting regexes are implemented by
// hand, one matcher per regex, with the semantics of Hugging Face tokenizers (Oniguruma:
// leftmost alternative wins, greedy quantifiers with backtracking, \s per Oniguruma).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kiln {

enum class PreTokenizerKind : uint8_t {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // SmolLM2 / StarCoder (tokenizer.json: Sequence[Digits(individual_digits), ByteLevel]):
  // every \p{N} character alone, then the GPT-2 regex inside the pieces between them.
  kSmolLm,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
  //   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // As kLlama3 but \p{N} one digit at a time.
  kQwen2,
};

// Maps a tokenizer.ggml.pre value to its pre-tokenizer; an unknown name is an error that
// names it. An empty name means "default" (GPT-2).
StatusOr<PreTokenizerKind> pre_tokenizer_from_name(std::string_view name);
const char* pre_tokenizer_name(PreTokenizerKind kind);

// A word as a byte range [begin, end) of the text given to pre_tokenize.
struct WordSpan {
  uint32_t begin;
  uint32_t end;
};

// Reusable buffers, so that encoding a long prompt allocates once.
struct PreTokenizerScratch {
  std::vector<uint32_t> cps;      // code points (kInvalidCodepoint for ill-formed bytes)
  std::vector<uint32_t> offsets;  // byte offset of each code point, plus the end
  std::vector<uint8_t> flags;     // unicode_flags of each code point
};

// Appends the words of `text` to `words` (cleared first). The spans tile the text.
void pre_tokenize(PreTokenizerKind kind, std::string_view text, PreTokenizerScratch& scratch,
                  std::vector<WordSpan>& words);

}  // namespace kiln
