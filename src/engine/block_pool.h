// The KV cache's blocks as plain bookkeeping over integer ids (STYLE.md rule 3): reference
// counts, the free list, and the prefix-cache index from a block's content hash to the
// block that holds it. Only the backend maps an id to memory.
//
// A block whose last reference goes away stays cached (its hash still finds it) until the
// pool needs it: free blocks form one list, least recently freed first, and allocation
// takes from the front. Blocks nobody can hit again (no hash) go to the front so they are
// reused before any cached one. Not thread-safe: the engine loop owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/kv_events.h"

namespace kiln {

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, int32_t block_size);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return (int32_t)blocks_.size(); }
  int32_t block_size() const { return block_size_; }
  // Blocks allocate() can hand out now: unreferenced ones, cached or not.
  int32_t num_free() const { return num_free_; }
  // Blocks referenced by at least one sequence.
  int32_t num_used() const { return num_blocks() - num_free_; }
  // Free blocks that still hold a cached prefix.
  int32_t num_cached_free() const { return num_cached_free_; }

  // Takes the least recently freed block (evicting its cached content), refcount 1.
  // nullopt when every block is referenced.
  std::optional<int32_t> allocate();
  void ref(int32_t block_id);
  // Drops one reference; at zero the block joins the free list (see the header comment).
  void unref(int32_t block_id);
  int32_t refcount(int32_t block_id) const { return blocks_[block_id].refcount; }

  // Prefix-cache index. `hash` names the block's content (see block_hash.h); `tokens` are
  // kept so a lookup confirms the content and a 64-bit collision can never return a
  // wrong block.
  // The cached block with this content, with a reference taken; nullopt if none.
  std::optional<int32_t> lookup(uint64_t hash, uint64_t parent_hash,
                                std::span<const int32_t> tokens);
  // Records that a full, computed block holds this content. Returns false (and records
  // nothing) when another block already holds it.
  bool insert(int32_t block_id, uint64_t hash, uint64_t parent_hash,
              std::span<const int32_t> tokens);
  // Forgets every cached block (they stay allocated to whoever holds them).
  void clear_cache();

  // KV events (kv_events.h): while on, insert() records a stored event, eviction a removed
  // one and clear_cache() an all-cleared one, until taken.
  void set_record_events(bool on) { record_events_ = on; }
  std::vector<KvEvent> take_events() { return std::exchange(events_, {}); }

 private:
  struct Block {
    int32_t refcount = 0;
    int32_t prev = -1, next = -1;  // free-list links, valid while refcount == 0
    bool hashed = false;
    uint64_t hash = 0, parent_hash = 0;
    std::vector<int32_t> tokens;
  };
  void list_remove(int32_t id);
  void list_push_front(int32_t id);
  void list_push_back(int32_t id);
  void forget_hash(int32_t id);

  int32_t block_size_;
  std::vector<Block> blocks_;
  int32_t head_ = -1, tail_ = -1;  // free list: head is allocated first
  int32_t num_free_ = 0, num_cached_free_ = 0;
  std::unordered_map<uint64_t, int32_t> by_hash_;
  bool record_events_ = false;
  std::vector<KvEvent> events_;
};

}  // namespace kiln
