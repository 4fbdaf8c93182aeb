// vLLM's KV cache events on the wire, for KV-aware routers (vllm-router's kv_aware, and
// other schedulers that subscribe to vLLM workers): `--kv-events-config` as vLLM spells it,
// {"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:5557",
//  "topic": ""}, and a ZeroMQ PUB socket that sends each engine step's batch as
// three frames: the topic, a sequence number (8 bytes, big-endian, from 0) and the msgpack
// payload, vLLM's EventBatch: [timestamp, [event...]], each event a map tagged by "type":
//   {"type": "BlockStored", "block_hashes": [hash], "parent_block_hash": hash | nil,
//    "token_ids": [...], "block_size": n, "lora_id": nil, "medium": nil, "lora_name": nil}
//   {"type": "BlockRemoved", "block_hashes": [hash], "medium": nil}
//   {"type": "AllBlocksCleared"}
// NOTE (learned against vllm-router 0.1.17): its subscriber refuses events written as arrays
// (msgspec's array_like, which older vLLM examples show) with "KV event must be a tagged
// map", needs "lora_name" present, and subscribes to the empty topic only, so the topic
// must stay "" (vLLM's default) for it.
// Hashes are the prefix cache's own 64-bit keys (engine/block_hash.h), as unsigned ints.
// The engine hands batches over without blocking (publish() queues them); a thread of the
// publisher's own encodes and sends. No replay socket: a subscriber that missed batches
// sees a gap in the sequence numbers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "engine/kv_events.h"
#include "util/status.h"

namespace kiln::server::router {

struct KvEventsConfig {
  bool enabled = false;               // enable_kv_cache_events
  std::string publisher = "null";     // "zmq" or "null" (vLLM's names)
  std::string endpoint = "tcp://*:5557";
  std::string topic;                  // "" (vLLM's default): subscribers subscribe to ""
  int64_t hwm = 100000;               // the socket's send high-water mark, in messages
  int64_t max_queue_batches = 100000;  // batches waiting for the sender; the oldest go first
};

// vLLM's JSON; errors name the field. An empty string is "off".
StatusOr<KvEventsConfig> parse_kv_events_config(std::string_view json);

// The msgpack payload of one batch (described above).
std::string encode_kv_event_batch(const KvEventBatch& batch);

class ZmqKvEventPublisher final : public KvEventSink {
 public:
  // Binds the endpoint (an error names it) and starts the sending thread.
  static StatusOr<std::shared_ptr<ZmqKvEventPublisher>> open(const KvEventsConfig& config);
  ~ZmqKvEventPublisher() override;  // sends what is queued, then closes

  void publish(KvEventBatch batch) override;
  // Batches dropped because the queue was full (a sender that cannot keep up).
  int64_t dropped() const;

 private:
  ZmqKvEventPublisher(const KvEventsConfig& config, void* context, void* socket);
  void run();

  const KvEventsConfig config_;
  void* context_;
  void* socket_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<KvEventBatch> queue_;
  bool stopping_ = false;
  int64_t dropped_ = 0;
  std::thread thread_;
};

// The sink --kv-events-config asks for: null when off (or publisher "null"); engines opened
// with the same endpoint (several models in one server) share one publisher.
StatusOr<std::shared_ptr<KvEventSink>> make_kv_event_sink(const KvEventsConfig& config);

}  // namespace kiln::server::router
