#include "server/router/kv_events_publisher.h"

#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.h>

#include <map>

namespace kiln::server::router {
namespace {

using Json = nlohmann::json;

void pack_string(msgpack::packer<msgpack::sbuffer>& pk, std::string_view s) {
  pk.pack_str((uint32_t)s.size());
  pk.pack_str_body(s.data(), (uint32_t)s.size());
}

std::string zmq_error() { return zmq_strerror(zmq_errno()); }

}  // namespace

StatusOr<KvEventsConfig> parse_kv_events_config(std::string_view text) {
  KvEventsConfig c;
  if (text.empty()) return c;
  const std::string where = "--kv-events-config: ";
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Error(where + "not a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key == "enable_kv_cache_events") {
      if (!value.is_boolean()) return Status::Error(where + key + " must be true or false");
      c.enabled = value.get<bool>();
    } else if (key == "publisher" || key == "endpoint" || key == "topic") {
      if (!value.is_string()) return Status::Error(where + key + " must be a string");
      (key == "publisher" ? c.publisher : key == "endpoint" ? c.endpoint : c.topic) =
          value.get<std::string>();
    } else if (key == "hwm" || key == "max_queue_size") {
      if (!value.is_number_integer() || value.get<int64_t>() <= 0)
        return Status::Error(where + key + " must be a positive integer");
      (key == "hwm" ? c.hwm : c.max_queue_batches) = value.get<int64_t>();
    } else if (key == "replay_endpoint") {
      if (!value.is_null())
        return Status::Error(where + "replay_endpoint is not supported (kiln keeps no replay "
                                     "buffer; subscribers see gaps in the sequence numbers)");
    } else if (key == "buffer_steps") {
      // vLLM's replay buffer size: meaningless without a replay endpoint.
    } else {
      return Status::Error(where + "unknown field " + key);
    }
  }
  if (c.publisher != "zmq" && c.publisher != "null")
    return Status::Error(where + "publisher must be \"zmq\" or \"null\", not \"" + c.publisher +
                         "\"");
  if (c.enabled && c.publisher == "zmq" && c.endpoint.empty())
    return Status::Error(where + "endpoint is empty");
  return c;
}

std::string encode_kv_event_batch(const KvEventBatch& batch) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(2);
  pk.pack_double(batch.timestamp);
  pk.pack_array((uint32_t)batch.events.size());
  for (const KvEvent& e : batch.events) {
    switch (e.kind) {
      case KvEvent::Kind::kStored:
        pk.pack_map(8);
        pack_string(pk, "type");
        pack_string(pk, "BlockStored");
        pack_string(pk, "block_hashes");
        pk.pack_array(1);
        pk.pack_uint64(e.hash);
        pack_string(pk, "parent_block_hash");
        if (e.parent_hash)
          pk.pack_uint64(*e.parent_hash);
        else
          pk.pack_nil();
        pack_string(pk, "token_ids");
        pk.pack_array((uint32_t)e.tokens.size());
        for (int32_t t : e.tokens) pk.pack_int32(t);
        pack_string(pk, "block_size");
        pk.pack_int32(batch.block_size);
        for (const char* none : {"lora_id", "medium", "lora_name"}) {
          pack_string(pk, none);
          pk.pack_nil();
        }
        break;
      case KvEvent::Kind::kRemoved:
        pk.pack_map(3);
        pack_string(pk, "type");
        pack_string(pk, "BlockRemoved");
        pack_string(pk, "block_hashes");
        pk.pack_array(1);
        pk.pack_uint64(e.hash);
        pack_string(pk, "medium");
        pk.pack_nil();
        break;
      case KvEvent::Kind::kAllCleared:
        pk.pack_map(1);
        pack_string(pk, "type");
        pack_string(pk, "AllBlocksCleared");
        break;
    }
  }
  return std::string(buf.data(), buf.size());
}

StatusOr<std::shared_ptr<ZmqKvEventPublisher>> ZmqKvEventPublisher::open(
    const KvEventsConfig& config) {
  void* context = zmq_ctx_new();
  if (!context) return Status::Error("--kv-events-config: ZeroMQ: " + zmq_error());
  void* socket = zmq_socket(context, ZMQ_PUB);
  const int hwm = (int)std::min<int64_t>(config.hwm, INT32_MAX), linger = 0;
  if (!socket || zmq_setsockopt(socket, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
      zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
      zmq_bind(socket, config.endpoint.c_str()) != 0) {
    const std::string error = zmq_error();
    if (socket) zmq_close(socket);
    zmq_ctx_term(context);
    return Status::Error("--kv-events-config: cannot bind " + config.endpoint + ": " + error);
  }
  return std::shared_ptr<ZmqKvEventPublisher>(new ZmqKvEventPublisher(config, context, socket));
}

ZmqKvEventPublisher::ZmqKvEventPublisher(const KvEventsConfig& config, void* context,
                                         void* socket)
    : config_(config), context_(context), socket_(socket), thread_([this] { run(); }) {}

ZmqKvEventPublisher::~ZmqKvEventPublisher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  zmq_close(socket_);
  zmq_ctx_term(context_);
}

void ZmqKvEventPublisher::publish(KvEventBatch batch) {
  {
    std::lock_guard lock(mu_);
    if ((int64_t)queue_.size() >= config_.max_queue_batches) {
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(std::move(batch));
  }
  cv_.notify_one();
}

int64_t ZmqKvEventPublisher::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void ZmqKvEventPublisher::run() {
  uint64_t seq = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, everything sent
    KvEventBatch batch = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const std::string payload = encode_kv_event_batch(batch);
    unsigned char seq_bytes[8];
    for (int i = 0; i < 8; ++i) seq_bytes[i] = (unsigned char)(seq >> (56 - 8 * i));
    ++seq;
    // A PUB socket never blocks: past the high-water mark ZeroMQ drops the message.
    if (zmq_send(socket_, config_.topic.data(), config_.topic.size(), ZMQ_SNDMORE) < 0 ||
        zmq_send(socket_, seq_bytes, sizeof seq_bytes, ZMQ_SNDMORE) < 0 ||
        zmq_send(socket_, payload.data(), payload.size(), 0) < 0)
      spdlog::warn("KV events: sending batch {} failed: {}", seq - 1, zmq_error());
    lock.lock();
  }
}

StatusOr<std::shared_ptr<KvEventSink>> make_kv_event_sink(const KvEventsConfig& config) {
  if (!config.enabled || config.publisher == "null") return std::shared_ptr<KvEventSink>();
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ZmqKvEventPublisher>> open_publishers;
  std::lock_guard lock(mu);
  if (auto existing = open_publishers[config.endpoint].lock())
    return std::shared_ptr<KvEventSink>(existing);
  auto opened = ZmqKvEventPublisher::open(config);
  if (!opened.ok()) return opened.status();
  open_publishers[config.endpoint] = *opened;
  return std::shared_ptr<KvEventSink>(*opened);
}

}  // namespace kiln::server::router
