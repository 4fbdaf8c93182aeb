// The two encoders. Both merge one word at a time over a linked list of symbols with a
// binary heap of candidate pairs, so a word of n bytes costs O(n log n); stale heap entries
// are recognised and dropped when popped. Nothing is cached between calls.
#include <algorithm>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace kiln {

namespace {

struct Symbol {
  int32_t id;    // gpt2: the token; -1 once merged into its left neighbour
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

// gpt2: a mergeable adjacent pair. Lower rank first, then the leftmost (Hugging Face's
// word.rs merge_all order).
struct RankedPair {
  int32_t rank;
  int32_t left;  // symbol index
  int32_t left_id;
  int32_t right_id;
  int32_t merged_id;
};
struct RankedPairLater {
  bool operator()(const RankedPair& a, const RankedPair& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

struct SpmSymbol {
  uint32_t begin;  // byte range in the escaped text
  uint32_t len;    // 0 once merged into its left neighbour
  int32_t prev;
  int32_t next;
  int32_t frozen_id;  // a user-defined piece, never merged; -1 for ordinary symbols
};

// llama: a pair whose concatenation is a vocabulary entry. Higher score first, then the
// leftmost (SentencePiece's bpe_model.cc and llama.cpp's llm_tokenizer_spm order).
struct ScoredPair {
  float score;
  int32_t left;
  int32_t right;
  uint32_t len;  // bytes of the concatenation, to recognise a stale entry
};
struct ScoredPairLater {
  bool operator()(const ScoredPair& a, const ScoredPair& b) const {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  }
};

// NOTE: SentencePiece merges only into normal and user-defined pieces; control and byte
// tokens are never the result of merging plain text, so text can never forge <eos> etc.
bool spm_mergeable(TokenType type) {
  return type == TokenType::kNormal || type == TokenType::kUserDefined;
}

}  // namespace

void Tokenizer::Impl::encode_text(std::string_view text, bool after_special,
                                  std::vector<int32_t>& out) const {
  if (kind == Kind::kSentencePiece) {
    encode_sentencepiece(text, add_space_prefix && after_special, out);
  } else {
    encode_byte_level(text, out);
  }
}

void Tokenizer::Impl::encode_byte_level(std::string_view text, std::vector<int32_t>& out) const {
  PreTokenizerScratch scratch;
  std::vector<WordSpan> words;
  pre_tokenize(pre, text, scratch, words);

  std::vector<Symbol> symbols;
  std::vector<RankedPair> heap;
  std::string spelled;
  // NOTE: a byte the vocabulary cannot spell is dropped, as Hugging Face's BPE (without an
  // unk_token, as byte-level vocabularies are) and llama.cpp both do.
  auto push_byte = [&](uint8_t b) {
    if (byte_ids[b] >= 0) out.push_back(byte_ids[b]);
  };
  auto try_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const int32_t a = symbols[left].id, b = symbols[right].id;
    if (a < 0 || b < 0) return;
    auto it = merges.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, left, a, b, it->second.id});
    std::push_heap(heap.begin(), heap.end(), RankedPairLater());
  };

  for (const WordSpan& w : words) {
    const std::string_view word = text.substr(w.begin, w.end - w.begin);
    if (word.size() == 1) {
      push_byte(static_cast<uint8_t>(word[0]));
      continue;
    }
    if (ignore_merges) {
      spelled.clear();
      for (char c : word) utf8_append(spelled, byte_to_unicode(static_cast<uint8_t>(c)));
      const int32_t id = find(spelled);
      if (id >= 0 && types[id] == TokenType::kNormal) {
        out.push_back(id);
        continue;
      }
    }
    symbols.clear();
    heap.clear();
    const int32_t m = static_cast<int32_t>(word.size());
    for (int32_t i = 0; i < m; ++i) {
      symbols.push_back({byte_ids[static_cast<uint8_t>(word[i])], i - 1, i + 1 < m ? i + 1 : -1});
    }
    for (int32_t i = 0; i + 1 < m; ++i) try_pair(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), RankedPairLater());
      const RankedPair top = heap.back();
      heap.pop_back();
      Symbol& left = symbols[top.left];
      if (left.id != top.left_id || left.next < 0) continue;
      Symbol& right = symbols[left.next];
      if (right.id != top.right_id) continue;
      left.id = top.merged_id;
      right.id = -1;
      left.next = right.next;
      if (right.next >= 0) symbols[right.next].prev = top.left;
      if (left.prev >= 0) try_pair(left.prev);
      try_pair(top.left);
    }
    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
      if (symbols[i].id >= 0) out.push_back(symbols[i].id);  // -1: a byte with no token
    }
  }
}

void Tokenizer::Impl::encode_sentencepiece(std::string_view raw, bool add_prefix,
                                           std::vector<int32_t>& out) const {
  // Escape: the optional prefix space, then every ' ' as "▁".
  std::string text;
  text.reserve(raw.size() + 16);
  if (add_prefix) text += "\xE2\x96\x81";
  for (char c : raw) {
    if (c == ' ')
      text += "\xE2\x96\x81";
    else
      text.push_back(c);
  }
  if (text.empty()) return;

  // Characters, except that user-defined pieces are matched first, longest at each
  // position, and frozen (SentencePiece's PrefixMatcher in bpe_model.cc).
  std::vector<SpmSymbol> symbols;
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  const auto any = [](int32_t) { return true; };
  for (size_t i = 0; i < text.size();) {
    auto [frozen, len] = spm_user_defined.empty() ? std::pair<int32_t, size_t>{-1, 0}
                                                  : spm_user_defined.match(text, i, any);
    if (frozen < 0) len = utf8_decode(p + i, text.size() - i).length;
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back(
        {static_cast<uint32_t>(i), static_cast<uint32_t>(len), index - 1, -1, frozen});
    if (index > 0) symbols[index - 1].next = index;
    i += len;
  }

  std::vector<ScoredPair> heap;
  auto piece = [&](uint32_t begin, uint32_t len) {
    return std::string_view(text).substr(begin, len);
  };
  auto try_pair = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    if (symbols[left].frozen_id >= 0 || symbols[right].frozen_id >= 0) return;
    const uint32_t len = symbols[left].len + symbols[right].len;
    const int32_t id = find(piece(symbols[left].begin, len));
    if (id < 0 || !spm_mergeable(types[id])) return;
    heap.push_back({scores[id], left, right, len});
    std::push_heap(heap.begin(), heap.end(), ScoredPairLater());
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) try_pair(i, i + 1);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), ScoredPairLater());
    const ScoredPair top = heap.back();
    heap.pop_back();
    SpmSymbol& left = symbols[top.left];
    SpmSymbol& right = symbols[top.right];
    if (left.len == 0 || right.len == 0 || left.next != top.right ||
        left.len + right.len != top.len) {
      continue;
    }
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_pair(left.prev, top.left);
    try_pair(top.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    if (symbols[i].frozen_id >= 0) {
      out.push_back(symbols[i].frozen_id);
      continue;
    }
    const std::string_view s = piece(symbols[i].begin, symbols[i].len);
    const int32_t id = find(s);
    if (id >= 0 && (spm_mergeable(types[id]) || types[id] == TokenType::kUnused)) {
      out.push_back(id);
      continue;
    }
    // Not in the vocabulary: byte fallback, or the unknown token per byte-less char.
    bool all_bytes = true;
    for (char c : s) all_bytes &= byte_ids[static_cast<uint8_t>(c)] >= 0;
    if (all_bytes) {
      for (char c : s) out.push_back(byte_ids[static_cast<uint8_t>(c)]);
    } else if (unk_id >= 0) {
      out.push_back(unk_id);
    }
  }
}

}  // namespace kiln
