// What happens to the prefix cache, for KV-aware routers (vLLM's KV cache events): a block
// became findable (stored) or stopped being findable (removed: evicted for reuse), or the
// whole cache was forgotten. The engine knows no transport: BlockPool records events while
// recording is on, EngineCore hands each step's events to a KvEventSink as one batch, and
// the sink (server/kv_events_publisher.h: ZeroMQ) must return at once, so a slow or absent
// subscriber never holds up the engine loop.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace kiln {

struct KvEvent {
  enum class Kind { kStored, kRemoved, kAllCleared };
  Kind kind = Kind::kStored;
  uint64_t hash = 0;                   // the block's prefix-cache key (block_hash.h)
  std::optional<uint64_t> parent_hash;  // stored only; none for a sequence's first block
  std::vector<int32_t> tokens;         // stored only: the block's token ids
};

// One engine step's events, in the order they happened.
struct KvEventBatch {
  double timestamp = 0;  // Unix seconds at the end of the step
  int32_t block_size = 0;
  std::vector<KvEvent> events;
};

class KvEventSink {
 public:
  virtual ~KvEventSink() = default;
  // Called on the engine loop thread; must not block.
  virtual void publish(KvEventBatch batch) = 0;
};

}  // namespace kiln
