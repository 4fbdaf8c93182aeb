// Which KV blocks each sequence holds: allocation as a sequence grows, automatic prefix
// caching (a new sequence starts on the cached blocks of its longest cached prefix),
// sharing between the samples of one request (fork) with copy-on-write of a shared
// partial block, and release. Plain bookkeeping over BlockPool's integer ids; the backend
// performs the block copies this asks for. Not thread-safe: the engine loop owns it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/block_pool.h"

namespace kiln {

// One sequence's blocks: table[i] holds positions [i * block_size, (i + 1) * block_size).
struct SequenceBlocks {
  std::vector<int32_t> table;
  std::vector<uint64_t> hashes;  // content keys of table[0 .. hashes.size()), all full
};

// Copy block `src`'s K/V rows into `dst` before the step's forward pass.
struct BlockCopy {
  int32_t src;
  int32_t dst;
};

struct PrefixCacheStats {
  int64_t queried_tokens = 0;  // prompt tokens looked up
  int64_t hit_tokens = 0;      // of those, found cached
};

class KvCacheManager {
 public:
  KvCacheManager(int32_t num_blocks, int32_t block_size, bool prefix_caching);

  int32_t block_size() const { return pool_.block_size(); }
  int32_t num_blocks() const { return pool_.num_blocks(); }
  int32_t num_free_blocks() const { return pool_.num_free(); }
  int32_t num_used_blocks() const { return pool_.num_used(); }
  bool prefix_caching() const { return prefix_caching_; }
  const PrefixCacheStats& prefix_stats() const { return stats_; }
  const BlockPool& pool() const { return pool_; }
  // KV events of the prefix cache (kv_events.h); nothing is recorded without prefix caching.
  void set_record_events(bool on) { pool_.set_record_events(on && prefix_caching_); }
  std::vector<KvEvent> take_events() { return pool_.take_events(); }

  // For a sequence holding no blocks: takes the cached blocks of the longest cached prefix
  // of `tokens`, whole blocks only and stopping at least one token short (the last token
  // must be computed to get logits). Returns the number of tokens they cover.
  int32_t match_prefix(SequenceBlocks& seq, std::span<const int32_t> tokens, uint64_t extra_key);
  // Counts a finished lookup in the hit-rate statistics (once per admission).
  void record_prefix_query(int32_t queried_tokens, int32_t hit_tokens);

  // Blocks allocate() would take so the sequence can write positions
  // [num_computed, num_tokens): new blocks past its table, plus one if the first of them
  // lies in a block it shares (copy-on-write).
  int32_t blocks_needed(const SequenceBlocks& seq, int32_t num_computed, int32_t num_tokens) const;
  // Takes those blocks and appends the copy-on-write copies to `copies`. All or nothing:
  // false, with nothing changed, when the pool has too few free blocks.
  [[nodiscard]] bool allocate(SequenceBlocks& seq, int32_t num_computed, int32_t num_tokens,
                              std::vector<BlockCopy>& copies);
  // After a step computed the sequence's tokens up to num_computed: offers every newly
  // full block to the prefix cache.
  void commit(SequenceBlocks& seq, std::span<const int32_t> tokens, int32_t num_computed,
              uint64_t extra_key);
  // Speculative decoding's rollback: drops the blocks that hold only positions at or past
  // `num_tokens` (rejected guesses). Their K/V rows are simply rewritten when those
  // positions are computed again; the prefix cache never saw them (commit() stops at the
  // verified tokens).
  void truncate(SequenceBlocks& seq, int32_t num_tokens);
  // The child shares every block of the parent (one more reference each).
  void fork(const SequenceBlocks& parent, SequenceBlocks& child);
  // Drops the sequence's references, last block first, so its tail is evicted before the
  // prefix other requests are more likely to share.
  void release(SequenceBlocks& seq);

 private:
  BlockPool pool_;
  bool prefix_caching_;
  PrefixCacheStats stats_;
};

}  // namespace kiln
