// Internal: the state behind a Tokenizer, shared by tokenizer.cpp (construction, special
// tokens, decoding) and tokenizer_encode.cpp (the two BPE algorithms). Not for other modules.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kiln {

// A set of token texts to find whole in a text, longest first at a position.
class TokenMatcher {
 public:
  // `text` must outlive the matcher (it is kept as a view).
  void add(std::string_view text, int32_t id);
  void finish();  // after the last add()
  bool empty() const { return by_text_.empty(); }
  int32_t find(std::string_view text) const {
    auto it = by_text_.find(text);
    return it == by_text_.end() ? -1 : it->second;
  }

  // The longest entry that starts at text[i] and that accept(id) takes; {-1, 0} if none.
  template <typename Accept>
  std::pair<int32_t, size_t> match(std::string_view text, size_t i, Accept&& accept) const {
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    const auto& lengths = lengths_[p[i]];
    if (lengths.empty()) return {-1, 0};
    const bool may2 = i + 1 < text.size() && test(prefix2_, p[i] << 8 | p[i + 1]);
    const bool may4 = may2 && i + 3 < text.size() && test(prefix4_, hash4(p + i));
    for (uint32_t len : lengths) {
      if (len > text.size() - i || (len >= 2 && !may2) || (len >= 4 && !may4)) continue;
      auto it = by_text_.find(text.substr(i, len));
      if (it != by_text_.end() && accept(it->second)) return {it->second, len};
    }
    return {-1, 0};
  }

 private:
  std::unordered_map<std::string_view, int32_t> by_text_;  // last id wins on duplicates
  // For each first byte, the distinct entry lengths, longest first.
  std::array<std::vector<uint32_t>, 256> lengths_;
  static bool test(const std::vector<uint64_t>& bits, uint32_t i) {
    return (bits[i / 64] >> (i % 64)) & 1;
  }
  static uint32_t hash4(const uint8_t* p) {
    const uint32_t v =
        uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    return (v * 2654435761u) >> 16;
  }
  // Filters that rule out most positions without hashing a substring: bit (b0 << 8 | b1)
  // of prefix2_ is set when an entry of two or more bytes starts with b0 b1, bit
  // hash4(first 4 bytes) of prefix4_ when an entry of four or more bytes does. (Gemma has
  // 30 whitespace-run pieces "▁▁".."▁"x31: without these, every space would cost 30
  // lookups.)
  std::vector<uint64_t> prefix2_ = std::vector<uint64_t>(65536 / 64, 0);
  std::vector<uint64_t> prefix4_ = std::vector<uint64_t>(65536 / 64, 0);
};

struct Tokenizer::Impl {
  enum class Kind : uint8_t { kByteLevelBpe, kSentencePiece };

  Kind kind = Kind::kByteLevelBpe;
  std::string model;
  std::string pre_name;
  PreTokenizerKind pre = PreTokenizerKind::kGpt2;
  // Llama 3's tokenizer.json sets BPE ignore_merges: a word that is itself a vocabulary
  // entry is emitted whole, without running the merges.
  bool ignore_merges = false;

  int32_t n_vocab = 0;
  // Token texts and the bytes each token stands for, packed: entry i is
  // arena[off[i], off[i+1]). The arenas never change after construction, so the
  // string_views into them (raw_specials' keys) stay valid.
  std::string text_arena;
  std::vector<uint32_t> text_off;
  std::string bytes_arena;
  std::vector<uint32_t> bytes_off;
  std::vector<float> scores;
  std::vector<TokenType> types;
  // Text -> id, open addressing with linear probing: slot = (hash >> 32) << 32 | (id + 1),
  // 0 = empty. NOTE: a std::unordered_map costs ~3 cache misses per lookup over a 262k
  // vocabulary; SentencePiece encoding does a lookup per candidate pair, so this table (one
  // miss for most absent pairs) makes it several times faster. Last id wins on duplicates.
  std::vector<uint64_t> lookup_slots;
  uint64_t lookup_mask = 0;

  // gpt2: (left id << 32 | right id) -> merge rank and the merged token.
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  std::unordered_map<uint64_t, Merge> merges;
  // gpt2: the token spelling each byte in the byte-level alphabet; llama: the <0xXX> token.
  // -1 where the vocabulary has none.
  std::array<int32_t, 256> byte_ids{};

  // Tokens matched whole before BPE (leftmost-longest).
  //   raw_specials, in the raw text: control and unknown tokens (only when parsing
  //     specials), and for gpt2 also user-defined tokens (always; Hugging Face's
  //     non-special added tokens).
  //   spm_user_defined, llama only, in the escaped text ("▁" for spaces, prefix added):
  //     user-defined pieces, which SentencePiece's prefix matcher freezes as whole symbols.
  TokenMatcher raw_specials;
  TokenMatcher spm_user_defined;
  std::string spm_user_defined_arena;  // the escaped texts spm_user_defined's keys view

  std::vector<uint8_t> end_of_generation;  // per id
  int32_t bos_id = -1, eos_id = -1, eot_id = -1, unk_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false, add_space_prefix = false;

  std::string_view text(int32_t id) const {
    return std::string_view(text_arena).substr(text_off[id], text_off[id + 1] - text_off[id]);
  }
  std::string_view bytes(int32_t id) const {
    return std::string_view(bytes_arena).substr(bytes_off[id], bytes_off[id + 1] - bytes_off[id]);
  }
  static uint64_t hash(std::string_view s) { return std::hash<std::string_view>()(s); }
  int32_t find(std::string_view s) const {
    const uint64_t h = hash(s);
    for (uint64_t i = h & lookup_mask;; i = (i + 1) & lookup_mask) {
      const uint64_t slot = lookup_slots[i];
      if (slot == 0) return -1;
      if ((slot >> 32) == (h >> 32)) {
        const int32_t id = static_cast<int32_t>(slot & 0xFFFFFFFFu) - 1;
        if (text(id) == s) return id;
      }
    }
  }
  void build_lookup();

  // Encodes one stretch of raw text that holds no special token; appends to `out`.
  // `after_special`: the stretch starts the text or follows a special token (SentencePiece
  // then adds the space prefix).
  void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const;
  void encode_byte_level(std::string_view text, std::vector<int32_t>& out) const;
  void encode_sentencepiece(std::string_view text, bool add_prefix,
                            std::vector<int32_t>& out) const;
};

}  // namespace kiln
