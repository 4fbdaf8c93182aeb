#include "engine/kv_cache_manager.h"

#include "engine/block_hash.h"
#include "util/status.h"

namespace kiln {

KvCacheManager::KvCacheManager(int32_t num_blocks, int32_t block_size, bool prefix_caching)
    : pool_(num_blocks, block_size), prefix_caching_(prefix_caching) {}

int32_t KvCacheManager::match_prefix(SequenceBlocks& seq, std::span<const int32_t> tokens,
                                     uint64_t extra_key) {
  KILN_CHECK(seq.table.empty());
  if (!prefix_caching_ || tokens.empty()) return 0;
  const int32_t bs = block_size();
  const int32_t max_blocks = ((int32_t)tokens.size() - 1) / bs;
  uint64_t parent = kRootBlockHash;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const auto block_tokens = tokens.subspan((size_t)i * bs, bs);
    const uint64_t h = hash_block(parent, block_tokens, extra_key);
    const auto id = pool_.lookup(h, parent, block_tokens);
    if (!id) break;
    seq.table.push_back(*id);
    seq.hashes.push_back(h);
    parent = h;
  }
  return (int32_t)seq.table.size() * bs;
}

void KvCacheManager::record_prefix_query(int32_t queried_tokens, int32_t hit_tokens) {
  if (!prefix_caching_) return;
  stats_.queried_tokens += queried_tokens;
  stats_.hit_tokens += hit_tokens;
}

int32_t KvCacheManager::blocks_needed(const SequenceBlocks& seq, int32_t num_computed,
                                      int32_t num_tokens) const {
  const int32_t bs = block_size();
  const int32_t have = (int32_t)seq.table.size();
  const int32_t want = (num_tokens + bs - 1) / bs;
  int32_t needed = want > have ? want - have : 0;
  const int32_t first = num_computed / bs;
  if (num_tokens > num_computed && first < have && pool_.refcount(seq.table[first]) > 1) ++needed;
  return needed;
}

bool KvCacheManager::allocate(SequenceBlocks& seq, int32_t num_computed, int32_t num_tokens,
                              std::vector<BlockCopy>& copies) {
  if (blocks_needed(seq, num_computed, num_tokens) > pool_.num_free()) return false;
  const int32_t bs = block_size();
  const int32_t first = num_computed / bs;
  if (num_tokens > num_computed && first < (int32_t)seq.table.size() &&
      pool_.refcount(seq.table[first]) > 1) {
    // Another sample still reads this block: write into a private copy.
    const int32_t shared = seq.table[first];
    const int32_t copy = *pool_.allocate();
    copies.push_back({shared, copy});
    pool_.unref(shared);
    seq.table[first] = copy;
  }
  const int32_t want = (num_tokens + bs - 1) / bs;
  while ((int32_t)seq.table.size() < want) seq.table.push_back(*pool_.allocate());
  return true;
}

void KvCacheManager::commit(SequenceBlocks& seq, std::span<const int32_t> tokens,
                            int32_t num_computed, uint64_t extra_key) {
  if (!prefix_caching_) return;
  const int32_t bs = block_size();
  const int32_t full = num_computed / bs;
  KILN_CHECK(full <= (int32_t)seq.table.size() && num_computed <= (int32_t)tokens.size());
  for (int32_t i = (int32_t)seq.hashes.size(); i < full; ++i) {
    const uint64_t parent = i == 0 ? kRootBlockHash : seq.hashes[i - 1];
    const auto block_tokens = tokens.subspan((size_t)i * bs, bs);
    const uint64_t h = hash_block(parent, block_tokens, extra_key);
    pool_.insert(seq.table[i], h, parent, block_tokens);  // false: already cached elsewhere
    seq.hashes.push_back(h);
  }
}

void KvCacheManager::truncate(SequenceBlocks& seq, int32_t num_tokens) {
  const size_t keep = (size_t)((num_tokens + block_size() - 1) / block_size());
  KILN_CHECK(seq.hashes.size() <= keep);
  while (seq.table.size() > keep) {
    pool_.unref(seq.table.back());
    seq.table.pop_back();
  }
}

void KvCacheManager::fork(const SequenceBlocks& parent, SequenceBlocks& child) {
  KILN_CHECK(child.table.empty());
  for (int32_t id : parent.table) pool_.ref(id);
  child = parent;
}

void KvCacheManager::release(SequenceBlocks& seq) {
  for (auto it = seq.table.rbegin(); it != seq.table.rend(); ++it) pool_.unref(*it);
  seq.table.clear();
  seq.hashes.clear();
}

}  // namespace kiln
