// The model's vocabulary as the structured-output matcher sees it: each token's bytes, which
// tokens may appear inside constrained text, which tokens end generation, and a byte trie
// of the tokens so a mask is computed by walking shared prefixes once.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "structured/grammar.h"

namespace kiln {
class Tokenizer;
}

namespace kiln::structured {

class TokenVocabulary {
 public:
  // token_bytes[i]: the bytes token i stands for; an empty string excludes the token from
  // constrained text (control tokens, unknown, padding). end_tokens: ids that end
  // generation, allowed exactly when the grammar may end. mask_size: the logits row width
  // (at least token_bytes.size(); ids past the tokenizer are never allowed).
  TokenVocabulary(std::vector<std::string> token_bytes, std::vector<int32_t> end_tokens,
                  int32_t mask_size);

  // Normal, byte and user-defined tokens by their bytes; control and unknown tokens only as
  // end tokens when listed in end_tokens.
  static std::shared_ptr<const TokenVocabulary> from_tokenizer(const Tokenizer& tokenizer,
                                                               std::vector<int32_t> end_tokens,
                                                               int32_t mask_size);

  int32_t mask_size() const { return mask_size_; }
  int32_t num_tokens() const { return (int32_t)bytes_.size(); }
  std::string_view bytes(int32_t id) const { return bytes_[id]; }
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  // Identity for caches: equal fingerprints mean equal vocabularies (a hash of all bytes).
  uint64_t fingerprint() const { return fingerprint_; }

  // The trie in pre-order: node 0 is the root (the empty string); the subtree of node i is
  // the nodes [i, end); the tokens spelled exactly by node i are
  // trie_tokens()[tok_begin, tok_end), and all tokens in its subtree are
  // trie_tokens()[tok_begin, subtree_tok_end).
  struct TrieNode {
    uint8_t byte;
    uint32_t depth;
    uint32_t end;
    uint32_t tok_begin, tok_end, subtree_tok_end;
  };
  const std::vector<TrieNode>& trie() const { return trie_; }
  const std::vector<int32_t>& trie_tokens() const { return trie_tokens_; }
  uint32_t max_depth() const { return max_depth_; }

  // The vocabulary seen from a loop over a byte class `c` (a JSON string's characters, say):
  // the tokens spelled only with bytes of c, as mask bits, and the trie nodes where a path
  // first leaves c (its byte is outside c, all its ancestors' are inside). A loop position
  // accepts the first set in any context and needs walks only below the exits, instead of
  // a walk of the whole trie. Computed once per class and vocabulary and kept for the first
  // kMaxCachedClosures classes (user regexes can name endless classes; past the bound a
  // closure is computed per call, never accumulated); thread-safe.
  struct ClassClosure {
    std::vector<uint64_t> inside_bits;
    std::vector<uint32_t> exits;
  };
  std::shared_ptr<const ClassClosure> class_closure(const ByteSet& c) const;
  static constexpr size_t kMaxCachedClosures = 256;

 private:
  void build_trie();

  std::vector<std::string> bytes_;
  std::vector<int32_t> end_tokens_;
  int32_t mask_size_;
  uint64_t fingerprint_ = 0;
  std::vector<TrieNode> trie_;
  std::vector<int32_t> trie_tokens_;
  uint32_t max_depth_ = 0;
  mutable std::mutex closures_mu_;
  mutable std::map<std::array<uint64_t, 4>, std::shared_ptr<const ClassClosure>> closures_;
};

}  // namespace kiln::structured
