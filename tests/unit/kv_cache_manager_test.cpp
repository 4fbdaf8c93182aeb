#include "engine/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kiln {
namespace {

std::vector<int32_t> iota_tokens(int32_t n, int32_t first = 100) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Computes and commits `tokens` for a fresh sequence, as the engine would.
SequenceBlocks compute(KvCacheManager& kv, const std::vector<int32_t>& tokens, uint64_t key = 0) {
  SequenceBlocks seq;
  const int32_t cached = kv.match_prefix(seq, tokens, key);
  std::vector<BlockCopy> copies;
  EXPECT_TRUE(kv.allocate(seq, cached, (int32_t)tokens.size(), copies));
  EXPECT_TRUE(copies.empty());
  kv.commit(seq, tokens, (int32_t)tokens.size(), key);
  return seq;
}

TEST(KvCacheManager, PrefixMatchTakesWholeBlocksAndStopsOneTokenShort) {
  KvCacheManager kv(16, 4, true);
  const auto tokens = iota_tokens(12);
  SequenceBlocks first = compute(kv, tokens);
  EXPECT_EQ(first.table.size(), 3u);
  EXPECT_EQ(first.hashes.size(), 3u);

  SequenceBlocks same;
  // 12 tokens, 3 full blocks cached, but the last token must be computed: 2 blocks.
  EXPECT_EQ(kv.match_prefix(same, tokens, 0), 8);
  EXPECT_EQ(same.table, std::vector<int32_t>(first.table.begin(), first.table.begin() + 2));
  kv.release(same);

  auto longer = iota_tokens(14);
  SequenceBlocks extended;
  EXPECT_EQ(kv.match_prefix(extended, longer, 0), 12);
  kv.release(extended);

  auto diverging = tokens;
  diverging[5] = 7;  // second block differs: only the first matches
  SequenceBlocks other;
  EXPECT_EQ(kv.match_prefix(other, diverging, 0), 4);
  kv.release(other);

  SequenceBlocks salted;
  EXPECT_EQ(kv.match_prefix(salted, tokens, 99), 0);
  kv.release(first);
  EXPECT_EQ(kv.num_free_blocks(), 16);
}

TEST(KvCacheManager, FreedPrefixStaysCachedUntilEvicted) {
  KvCacheManager kv(4, 4, true);
  const auto tokens = iota_tokens(9);
  SequenceBlocks a = compute(kv, tokens);
  kv.release(a);
  EXPECT_EQ(kv.num_free_blocks(), 4);
  SequenceBlocks b;
  EXPECT_EQ(kv.match_prefix(b, tokens, 0), 8);
  kv.release(b);
  // Another sequence needing the whole pool evicts it.
  SequenceBlocks c = compute(kv, iota_tokens(16, 5000));
  kv.release(c);
  SequenceBlocks d;
  EXPECT_EQ(kv.match_prefix(d, tokens, 0), 0);
}

TEST(KvCacheManager, PrefixCachingOffNeverMatches) {
  KvCacheManager kv(8, 4, false);
  const auto tokens = iota_tokens(9);
  SequenceBlocks a = compute(kv, tokens);
  SequenceBlocks b;
  EXPECT_EQ(kv.match_prefix(b, tokens, 0), 0);
  kv.release(a);
}

TEST(KvCacheManager, AllocateIsAllOrNothing) {
  KvCacheManager kv(3, 4, true);
  SequenceBlocks seq;
  std::vector<BlockCopy> copies;
  EXPECT_FALSE(kv.allocate(seq, 0, 13, copies));  // needs 4 blocks
  EXPECT_TRUE(seq.table.empty());
  EXPECT_EQ(kv.num_free_blocks(), 3);
  EXPECT_TRUE(kv.allocate(seq, 0, 12, copies));
  EXPECT_EQ(kv.num_free_blocks(), 0);
  EXPECT_EQ(kv.blocks_needed(seq, 12, 13), 1);
  kv.release(seq);
}

TEST(KvCacheManager, ForkSharesBlocksAndCopiesTheSharedPartialBlockOnWrite) {
  KvCacheManager kv(8, 4, true);
  const auto tokens = iota_tokens(6);  // one full block, one partial
  SequenceBlocks parent = compute(kv, tokens);
  SequenceBlocks child;
  kv.fork(parent, child);
  EXPECT_EQ(child.table, parent.table);
  EXPECT_EQ(kv.pool().refcount(parent.table[1]), 2);

  // The child writes position 6, inside the shared partial block: it gets a private copy.
  std::vector<BlockCopy> copies;
  EXPECT_EQ(kv.blocks_needed(child, 6, 7), 1);
  ASSERT_TRUE(kv.allocate(child, 6, 7, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, parent.table[1]);
  EXPECT_EQ(copies[0].dst, child.table[1]);
  EXPECT_NE(child.table[1], parent.table[1]);
  EXPECT_EQ(child.table[0], parent.table[0]);  // full blocks stay shared
  // The parent is now the only owner: it writes in place.
  copies.clear();
  EXPECT_EQ(kv.blocks_needed(parent, 6, 7), 0);
  ASSERT_TRUE(kv.allocate(parent, 6, 7, copies));
  EXPECT_TRUE(copies.empty());
  kv.release(parent);
  kv.release(child);
  EXPECT_EQ(kv.num_used_blocks(), 0);
}

TEST(KvCacheManager, HitStatisticsCountTokens) {
  KvCacheManager kv(8, 4, true);
  kv.record_prefix_query(10, 4);
  kv.record_prefix_query(6, 0);
  EXPECT_EQ(kv.prefix_stats().queried_tokens, 16);
  EXPECT_EQ(kv.prefix_stats().hit_tokens, 4);
}

}  // namespace
}  // namespace kiln
