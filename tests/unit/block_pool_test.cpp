#include "engine/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace kiln {
namespace {

std::vector<int32_t> tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(n);
  for (int32_t i = 0; i < n; ++i) t[i] = first + i;
  return t;
}

TEST(BlockPool, AllocatesEveryBlockOnceThenRunsOut) {
  BlockPool pool(4, 16);
  std::vector<bool> seen(4);
  for (int i = 0; i < 4; ++i) {
    auto id = pool.allocate();
    ASSERT_TRUE(id);
    EXPECT_FALSE(seen[*id]);
    seen[*id] = true;
    EXPECT_EQ(pool.refcount(*id), 1);
  }
  EXPECT_FALSE(pool.allocate());
  EXPECT_EQ(pool.num_free(), 0);
  EXPECT_EQ(pool.num_used(), 4);
}

TEST(BlockPool, RefcountKeepsABlockUntilTheLastUnref) {
  BlockPool pool(2, 4);
  const int32_t a = *pool.allocate();
  pool.ref(a);
  pool.unref(a);
  EXPECT_EQ(pool.num_free(), 1);
  pool.unref(a);
  EXPECT_EQ(pool.num_free(), 2);
}

TEST(BlockPool, CachedBlockIsFoundAfterItsOwnerFreesIt) {
  BlockPool pool(3, 4);
  const int32_t a = *pool.allocate();
  ASSERT_TRUE(pool.insert(a, 42, 7, tokens(0, 4)));
  pool.unref(a);
  EXPECT_EQ(pool.num_free(), 3);
  EXPECT_EQ(pool.num_cached_free(), 1);
  auto hit = pool.lookup(42, 7, tokens(0, 4));
  ASSERT_TRUE(hit);
  EXPECT_EQ(*hit, a);
  EXPECT_EQ(pool.refcount(a), 1);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_EQ(pool.num_cached_free(), 0);
}

TEST(BlockPool, LookupConfirmsContentNotJustTheHash) {
  BlockPool pool(2, 4);
  const int32_t a = *pool.allocate();
  ASSERT_TRUE(pool.insert(a, 42, 7, tokens(0, 4)));
  EXPECT_FALSE(pool.lookup(42, 7, tokens(1, 4)));
  EXPECT_FALSE(pool.lookup(42, 8, tokens(0, 4)));
  EXPECT_FALSE(pool.lookup(43, 7, tokens(0, 4)));
}

TEST(BlockPool, UncachedBlocksAreReusedBeforeCachedOnesAndCachedInLruOrder) {
  BlockPool pool(4, 4);
  const int32_t a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate(),
                d = *pool.allocate();
  ASSERT_TRUE(pool.insert(a, 1, 0, tokens(0, 4)));
  ASSERT_TRUE(pool.insert(b, 2, 0, tokens(4, 4)));
  pool.unref(a);  // cached, freed first: evicted first
  pool.unref(b);  // cached
  pool.unref(c);  // plain
  pool.unref(d);  // plain
  EXPECT_EQ(pool.num_cached_free(), 2);
  std::vector<int32_t> order;
  for (int i = 0; i < 4; ++i) order.push_back(*pool.allocate());
  // The plain blocks first (most recently freed at the front), then a, then b.
  EXPECT_EQ(order, (std::vector<int32_t>{d, c, a, b}));
  EXPECT_EQ(pool.num_cached_free(), 0);
  // Eviction forgot the content.
  pool.unref(a);
  EXPECT_FALSE(pool.lookup(1, 0, tokens(0, 4)));
}

TEST(BlockPool, DuplicateContentIsNotIndexedTwice) {
  BlockPool pool(2, 4);
  const int32_t a = *pool.allocate(), b = *pool.allocate();
  EXPECT_TRUE(pool.insert(a, 9, 0, tokens(0, 4)));
  EXPECT_FALSE(pool.insert(b, 9, 0, tokens(0, 4)));
  pool.unref(b);
  pool.unref(a);
  EXPECT_EQ(pool.num_cached_free(), 1);
  EXPECT_EQ(*pool.lookup(9, 0, tokens(0, 4)), a);
}

TEST(BlockPool, ClearCacheForgetsEverything) {
  BlockPool pool(2, 4);
  const int32_t a = *pool.allocate();
  ASSERT_TRUE(pool.insert(a, 5, 0, tokens(0, 4)));
  pool.unref(a);
  pool.clear_cache();
  EXPECT_EQ(pool.num_cached_free(), 0);
  EXPECT_FALSE(pool.lookup(5, 0, tokens(0, 4)));
  EXPECT_EQ(pool.num_free(), 2);
}

}  // namespace
}  // namespace kiln
