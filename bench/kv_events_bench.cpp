// What KV cache events cost the engine loop per step: a step that prefills 512 tokens (32
// blocks of 16) into a full pool, so every block it caches evicts a cached one, as BlockPool
// bookkeeping alone (events off) and with events recorded, taken and handed to a real ZeroMQ
// publisher (events on; no subscriber, so the cost measured is the loop's, not the wire's).
// Compare with a model step (tens of ms for the 0.5B model on this machine).
//
//   kiln_micro_bench --benchmark_filter=kv_events/
#include <benchmark/benchmark.h>

#include <vector>

#include "engine/block_hash.h"
#include "engine/block_pool.h"
#include "server/router/kv_events_publisher.h"

namespace kiln {
namespace {

constexpr int32_t kBlocks = 1024, kBlockSize = 16, kStepBlocks = 32;

void bm_step(benchmark::State& state, bool events) {
  BlockPool pool(kBlocks, kBlockSize);
  std::shared_ptr<KvEventSink> sink;
  if (events) {
    server::router::KvEventsConfig config;
    config.enabled = true;
    config.publisher = "zmq";
    config.endpoint = "tcp://127.0.0.1:*";  // any free port
    auto opened = server::router::ZmqKvEventPublisher::open(config);
    if (!opened.ok()) {
      state.SkipWithError(opened.message().c_str());
      return;
    }
    sink = *opened;
    pool.set_record_events(true);
  }
  std::vector<int32_t> tokens(kBlockSize);
  uint64_t next = 1;
  for (auto _ : state) {
    std::vector<int32_t> held;
    uint64_t parent = kRootBlockHash;
    for (int32_t b = 0; b < kStepBlocks; ++b) {
      const int32_t id = *pool.allocate();
      for (int32_t i = 0; i < kBlockSize; ++i) tokens[i] = (int32_t)(next + i);
      const uint64_t h = hash_block(parent, tokens, 0);
      pool.insert(id, h, parent, tokens);
      parent = h;
      ++next;
      held.push_back(id);
    }
    for (int32_t id : held) pool.unref(id);
    if (sink) sink->publish({0.0, kBlockSize, pool.take_events()});
  }
  state.SetItemsProcessed(state.iterations() * kStepBlocks);
}

BENCHMARK_CAPTURE(bm_step, off, false)->Name("kv_events/step_32_blocks/off");
BENCHMARK_CAPTURE(bm_step, on, true)->Name("kv_events/step_32_blocks/on");

}  // namespace
}  // namespace kiln
