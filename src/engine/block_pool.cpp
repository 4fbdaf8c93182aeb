#include "engine/block_pool.h"

#include <algorithm>

#include "engine/block_hash.h"
#include "util/status.h"

namespace kiln {

BlockPool::BlockPool(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size), blocks_(num_blocks) {
  KILN_CHECK(num_blocks > 0 && block_size > 0);
  for (int32_t id = 0; id < num_blocks; ++id) list_push_back(id);
  num_free_ = num_blocks;
}

void BlockPool::list_remove(int32_t id) {
  Block& b = blocks_[id];
  (b.prev >= 0 ? blocks_[b.prev].next : head_) = b.next;
  (b.next >= 0 ? blocks_[b.next].prev : tail_) = b.prev;
  b.prev = b.next = -1;
}

void BlockPool::list_push_front(int32_t id) {
  Block& b = blocks_[id];
  b.prev = -1;
  b.next = head_;
  (head_ >= 0 ? blocks_[head_].prev : tail_) = id;
  head_ = id;
}

void BlockPool::list_push_back(int32_t id) {
  Block& b = blocks_[id];
  b.next = -1;
  b.prev = tail_;
  (tail_ >= 0 ? blocks_[tail_].next : head_) = id;
  tail_ = id;
}

void BlockPool::forget_hash(int32_t id) {
  Block& b = blocks_[id];
  if (!b.hashed) return;
  auto it = by_hash_.find(b.hash);
  if (it != by_hash_.end() && it->second == id) by_hash_.erase(it);
  b.hashed = false;
  b.tokens.clear();
}

std::optional<int32_t> BlockPool::allocate() {
  if (head_ < 0) return std::nullopt;
  const int32_t id = head_;
  list_remove(id);
  Block& b = blocks_[id];
  if (b.hashed) {
    --num_cached_free_;
    if (record_events_) events_.push_back({KvEvent::Kind::kRemoved, b.hash, std::nullopt, {}});
    forget_hash(id);  // eviction: its content will be overwritten
  }
  b.refcount = 1;
  --num_free_;
  return id;
}

void BlockPool::ref(int32_t block_id) {
  Block& b = blocks_[block_id];
  if (b.refcount == 0) {
    list_remove(block_id);
    --num_free_;
    if (b.hashed) --num_cached_free_;
  }
  ++b.refcount;
}

void BlockPool::unref(int32_t block_id) {
  Block& b = blocks_[block_id];
  KILN_CHECK(b.refcount > 0);
  if (--b.refcount > 0) return;
  ++num_free_;
  if (b.hashed) {
    ++num_cached_free_;
    list_push_back(block_id);
  } else {
    list_push_front(block_id);
  }
}

std::optional<int32_t> BlockPool::lookup(uint64_t hash, uint64_t parent_hash,
                                         std::span<const int32_t> tokens) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  const Block& b = blocks_[it->second];
  if (b.parent_hash != parent_hash || !std::equal(tokens.begin(), tokens.end(), b.tokens.begin(),
                                                  b.tokens.end()))
    return std::nullopt;
  ref(it->second);
  return it->second;
}

bool BlockPool::insert(int32_t block_id, uint64_t hash, uint64_t parent_hash,
                       std::span<const int32_t> tokens) {
  Block& b = blocks_[block_id];
  KILN_CHECK(b.refcount > 0 && (int32_t)tokens.size() == block_size_);
  if (b.hashed || by_hash_.count(hash)) return false;
  b.hashed = true;
  b.hash = hash;
  b.parent_hash = parent_hash;
  b.tokens.assign(tokens.begin(), tokens.end());
  by_hash_.emplace(hash, block_id);
  if (record_events_)
    events_.push_back({KvEvent::Kind::kStored, hash,
                       parent_hash == kRootBlockHash ? std::nullopt
                                                     : std::optional<uint64_t>(parent_hash),
                       b.tokens});
  return true;
}

void BlockPool::clear_cache() {
  if (record_events_) events_.push_back({KvEvent::Kind::kAllCleared, 0, std::nullopt, {}});
  for (int32_t id = 0; id < num_blocks(); ++id) {
    Block& b = blocks_[id];
    if (!b.hashed) continue;
    if (b.refcount == 0) {
      --num_cached_free_;
      list_remove(id);
      list_push_front(id);
    }
    forget_hash(id);
  }
}

}  // namespace kiln
