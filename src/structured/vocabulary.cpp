#include "structured/vocabulary.h"

#include <algorithm>
#include <numeric>

#include "util/status.h"

namespace kiln::structured {

TokenVocabulary::TokenVocabulary(std::vector<std::string> token_bytes,
                                 std::vector<int32_t> end_tokens, int32_t mask_size)
    : bytes_(std::move(token_bytes)), end_tokens_(std::move(end_tokens)), mask_size_(mask_size) {
  KILN_CHECK(mask_size_ >= (int32_t)bytes_.size());
  std::sort(end_tokens_.begin(), end_tokens_.end());
  end_tokens_.erase(std::unique(end_tokens_.begin(), end_tokens_.end()), end_tokens_.end());
  // An end token never also stands for text: it is allowed only when the grammar may end.
  for (int32_t id : end_tokens_)
    if (id >= 0 && id < (int32_t)bytes_.size()) bytes_[id].clear();
  uint64_t h = 1469598103934665603ull;  // FNV-1a over lengths and bytes
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix((uint64_t)mask_size_);
  for (const std::string& b : bytes_) {
    mix(b.size());
    for (unsigned char c : b) mix(c);
  }
  for (int32_t id : end_tokens_) mix((uint64_t)id + 0x100);
  fingerprint_ = h;
  build_trie();
}

std::shared_ptr<const TokenVocabulary::ClassClosure> TokenVocabulary::class_closure(
    const ByteSet& c) const {
  const std::array<uint64_t, 4> key = {c.words[0], c.words[1], c.words[2], c.words[3]};
  std::lock_guard<std::mutex> lock(closures_mu_);
  if (auto it = closures_.find(key); it != closures_.end()) return it->second;
  auto closure = std::make_shared<ClassClosure>();
  closure->inside_bits.assign(((size_t)mask_size_ + 63) / 64, 0);
  uint32_t i = 1;
  while (i < trie_.size()) {
    const TrieNode& n = trie_[i];
    if (!c.contains(n.byte)) {
      closure->exits.push_back(i);
      i = n.end;
      continue;
    }
    for (uint32_t t = n.tok_begin; t < n.tok_end; ++t) {
      const int32_t id = trie_tokens_[t];
      closure->inside_bits[(size_t)id >> 6] |= 1ull << (id & 63);
    }
    ++i;
  }
  if (closures_.size() < kMaxCachedClosures) closures_.emplace(key, closure);
  return closure;
}

void TokenVocabulary::build_trie() {
  std::vector<int32_t> order;
  for (int32_t id = 0; id < (int32_t)bytes_.size(); ++id)
    if (!bytes_[id].empty()) order.push_back(id);
  // std::string compares bytes as unsigned char, so a prefix sorts before its extensions
  // and every subtree is contiguous.
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return bytes_[a] < bytes_[b]; });
  trie_.push_back(TrieNode{0, 0, 0, 0, 0, 0});
  std::vector<uint32_t> path = {0};  // node index per depth along the current string
  std::string current;
  auto close_to = [&](size_t depth) {  // close path nodes deeper than `depth`
    while (path.size() > depth + 1) {
      TrieNode& n = trie_[path.back()];
      n.end = (uint32_t)trie_.size();
      n.subtree_tok_end = (uint32_t)trie_tokens_.size();
      path.pop_back();
    }
  };
  for (int32_t id : order) {
    const std::string& s = bytes_[id];
    size_t lcp = 0;
    while (lcp < s.size() && lcp < current.size() && s[lcp] == current[lcp]) ++lcp;
    close_to(lcp);
    current.resize(lcp);
    for (size_t d = lcp; d < s.size(); ++d) {
      path.push_back((uint32_t)trie_.size());
      const uint32_t at = (uint32_t)trie_tokens_.size();
      trie_.push_back(TrieNode{(uint8_t)s[d], (uint32_t)d + 1, 0, at, at, at});
      current += s[d];
    }
    max_depth_ = std::max(max_depth_, (uint32_t)s.size());
    trie_tokens_.push_back(id);
    trie_[path.back()].tok_end = (uint32_t)trie_tokens_.size();
  }
  close_to(0);
  trie_[0].end = (uint32_t)trie_.size();
  trie_[0].subtree_tok_end = (uint32_t)trie_tokens_.size();
}

}  // namespace kiln::structured
