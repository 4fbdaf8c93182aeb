// KV cache events (engine/kv_events.h) as the engine emits them and as the publisher encodes
// them: stored when a prompt's full blocks are computed, with the prefix cache's own keys
// (recomputed here with hash_block over the prompt's blocks), removed when the pool evicts a
// cached block, cleared with the cache; and the msgpack payload read back with msgpack-cxx.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "engine/block_hash.h"
#include "engine/block_pool.h"
#include "engine/engine_core.h"
#include "fake_backend.h"
#include "server/router/kv_events_publisher.h"

namespace kiln {
namespace {

struct RecordingSink final : KvEventSink {
  void publish(KvEventBatch batch) override { batches.push_back(std::move(batch)); }
  std::vector<KvEvent> events(KvEvent::Kind kind) const {
    std::vector<KvEvent> out;
    for (const KvEventBatch& b : batches)
      for (const KvEvent& e : b.events)
        if (e.kind == kind) out.push_back(e);
    return out;
  }
  std::vector<KvEventBatch> batches;
};

constexpr int32_t kBlock = 4;

void run(EngineCore& core, uint64_t id, std::vector<int32_t> prompt) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 1;
  ASSERT_TRUE(core.validate(r).ok());
  core.add_request(id, std::move(r), std::make_shared<RequestStream>(id, 1));
  while (core.has_work()) core.step();
}

std::vector<int32_t> iota_prompt(int32_t n, int32_t first) {
  std::vector<int32_t> p(n);
  std::iota(p.begin(), p.end(), first);
  return p;
}

TEST(KvEvents, StoredOnPrefillWithThePrefixCacheKeys) {
  auto sink = std::make_shared<RecordingSink>();
  EngineConfig config;
  config.kv_event_sink = sink;
  testing::FakeBackend backend(16, kBlock, 97, 4096);
  EngineCore core(backend, nullptr, config);
  const std::vector<int32_t> prompt = iota_prompt(10, 3);  // two full blocks and a part
  run(core, 1, prompt);

  const auto stored = sink->events(KvEvent::Kind::kStored);
  ASSERT_EQ(stored.size(), 2u);
  uint64_t parent = kRootBlockHash;
  for (size_t i = 0; i < stored.size(); ++i) {
    const std::span<const int32_t> tokens(prompt.data() + i * kBlock, kBlock);
    EXPECT_EQ(stored[i].hash, hash_block(parent, tokens, 0)) << i;
    EXPECT_EQ(stored[i].tokens, std::vector<int32_t>(tokens.begin(), tokens.end()));
    if (i == 0)
      EXPECT_FALSE(stored[i].parent_hash);  // a sequence's first block has no parent
    else
      EXPECT_EQ(stored[i].parent_hash, parent);
    parent = stored[i].hash;
  }
  for (const KvEventBatch& b : sink->batches) EXPECT_EQ(b.block_size, kBlock);

  // The same prompt again finds its blocks cached: nothing new is stored.
  const size_t before = sink->batches.size();
  run(core, 2, prompt);
  for (size_t i = before; i < sink->batches.size(); ++i)
    for (const KvEvent& e : sink->batches[i].events) EXPECT_NE(e.kind, KvEvent::Kind::kStored);
}

TEST(KvEvents, RemovedWhenThePoolEvictsACachedBlock) {
  auto sink = std::make_shared<RecordingSink>();
  EngineConfig config;
  config.kv_event_sink = sink;
  testing::FakeBackend backend(4, kBlock, 97, 4096);  // 16 slots: one prompt at a time
  EngineCore core(backend, nullptr, config);
  run(core, 1, iota_prompt(12, 1));
  const auto first = sink->events(KvEvent::Kind::kStored);
  ASSERT_EQ(first.size(), 3u);
  run(core, 2, iota_prompt(12, 50));  // needs the pool: evicts the first prompt's blocks
  const auto removed = sink->events(KvEvent::Kind::kRemoved);
  ASSERT_FALSE(removed.empty());
  for (const KvEvent& r : removed) {
    bool known = false;
    for (const KvEvent& s : first) known |= s.hash == r.hash;
    EXPECT_TRUE(known) << "removed a block never stored: " << r.hash;
  }
  // Every event follows the one it depends on: nothing is removed before it was stored.
  EXPECT_EQ(sink->events(KvEvent::Kind::kStored).size(), 6u);
}

TEST(KvEvents, NoneRecordedWithoutASinkOrWithoutPrefixCaching) {
  BlockPool pool(2, kBlock);
  const auto id = pool.allocate();
  const std::vector<int32_t> tokens = {1, 2, 3, 4};
  ASSERT_TRUE(pool.insert(*id, 7, kRootBlockHash, tokens));
  EXPECT_TRUE(pool.take_events().empty());

  auto sink = std::make_shared<RecordingSink>();
  EngineConfig config;
  config.kv_event_sink = sink;
  config.prefix_caching = false;
  testing::FakeBackend backend(16, kBlock, 97, 4096);
  EngineCore core(backend, nullptr, config);
  run(core, 1, iota_prompt(10, 3));
  EXPECT_TRUE(sink->batches.empty());
}

TEST(KvEvents, ClearingTheCacheIsOneEvent) {
  BlockPool pool(2, kBlock);
  pool.set_record_events(true);
  const auto id = pool.allocate();
  ASSERT_TRUE(pool.insert(*id, 7, kRootBlockHash, std::vector<int32_t>{1, 2, 3, 4}));
  pool.clear_cache();
  const auto events = pool.take_events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, KvEvent::Kind::kStored);
  EXPECT_EQ(events[1].kind, KvEvent::Kind::kAllCleared);
  EXPECT_TRUE(pool.take_events().empty());
}

TEST(KvEvents, PayloadIsAnEventBatchOfTaggedMaps) {
  KvEventBatch batch;
  batch.timestamp = 1234.5;
  batch.block_size = 16;
  batch.events.push_back({KvEvent::Kind::kStored, 0xfedcba9876543210ull, std::nullopt, {5, 6}});
  batch.events.push_back({KvEvent::Kind::kStored, 2, 0xfedcba9876543210ull, {7}});
  batch.events.push_back({KvEvent::Kind::kRemoved, 2, std::nullopt, {}});
  batch.events.push_back({KvEvent::Kind::kAllCleared, 0, std::nullopt, {}});
  const std::string payload = server::router::encode_kv_event_batch(batch);

  msgpack::object_handle oh = msgpack::unpack(payload.data(), payload.size());
  const msgpack::object& root = oh.get();
  ASSERT_EQ(root.type, msgpack::type::ARRAY);
  ASSERT_EQ(root.via.array.size, 2u);
  EXPECT_DOUBLE_EQ(root.via.array.ptr[0].as<double>(), 1234.5);
  const msgpack::object& events = root.via.array.ptr[1];
  ASSERT_EQ(events.via.array.size, 4u);
  using Map = std::map<std::string, msgpack::object>;
  const Map stored = events.via.array.ptr[0].as<Map>();
  EXPECT_EQ(stored.size(), 8u);
  EXPECT_EQ(stored.at("type").as<std::string>(), "BlockStored");
  EXPECT_EQ(stored.at("block_hashes").as<std::vector<uint64_t>>(),
            std::vector<uint64_t>{0xfedcba9876543210ull});
  EXPECT_TRUE(stored.at("parent_block_hash").is_nil());
  EXPECT_EQ(stored.at("token_ids").as<std::vector<int32_t>>(), (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(stored.at("block_size").as<int32_t>(), 16);
  for (const char* none : {"lora_id", "medium", "lora_name"}) EXPECT_TRUE(stored.at(none).is_nil());
  EXPECT_EQ(events.via.array.ptr[1].as<Map>().at("parent_block_hash").as<uint64_t>(),
            0xfedcba9876543210ull);
  const Map removed = events.via.array.ptr[2].as<Map>();
  EXPECT_EQ(removed.size(), 3u);
  EXPECT_EQ(removed.at("type").as<std::string>(), "BlockRemoved");
  EXPECT_EQ(removed.at("block_hashes").as<std::vector<uint64_t>>(), std::vector<uint64_t>{2});
  const Map cleared = events.via.array.ptr[3].as<Map>();
  EXPECT_EQ(cleared.size(), 1u);
  EXPECT_EQ(cleared.at("type").as<std::string>(), "AllBlocksCleared");
}

TEST(KvEvents, ConfigIsVllmsJsonAndErrorsNameTheField) {
  auto c = server::router::parse_kv_events_config(
      R"({"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:5557",
          "topic": "kv-events"})");
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->endpoint, "tcp://*:5557");
  EXPECT_EQ(c->topic, "kv-events");
  EXPECT_FALSE(server::router::parse_kv_events_config("").value().enabled);
  for (const char* bad : {"[1]", "{", R"({"publisher": "nats"})", R"({"enable_kv_cache_events": 1})",
                          R"({"endpoints": "x"})", R"({"replay_endpoint": "tcp://*:5558"})"}) {
    auto r = server::router::parse_kv_events_config(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find("--kv-events-config"), std::string::npos) << r.message();
  }
  c->endpoint = "not-an-endpoint";
  auto opened = server::router::ZmqKvEventPublisher::open(*c);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.message().find("not-an-endpoint"), std::string::npos) << opened.message();
}

}  // namespace
}  // namespace kiln
