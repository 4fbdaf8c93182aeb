// The responses kept for `previous_response_id` and `GET /v1/responses/{id}`: in memory,
// bounded by a count (--responses-store-max) and an age (--responses-store-ttl). A response
// past either bound is gone, so a request naming it gets a clear 404 instead of a
// conversation silently missing its start.
//
// A stored response carries its conversation as immutable segments linked to the segment
// of the response it continued: turn N holds only its own input and output items and a
// pointer to turn N-1's segment. A chain of turns therefore costs memory linear in its
// length (a full copy per turn would be quadratic), and evicting an earlier response from
// the index does not cut a later one's history, which keeps its segments alive.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/json_util.h"

namespace kiln::server {

struct ConversationSegment {
  std::shared_ptr<const ConversationSegment> parent;  // the continued response's; null: none
  Json items = Json::array();                         // Responses items, in order
};
using ConversationPtr = std::shared_ptr<const ConversationSegment>;

// Every item of the conversation, oldest first.
Json conversation_items(const ConversationPtr& conversation);

struct StoredResponse {
  Json response;                 // the Response object as it was returned
  ConversationPtr conversation;  // its input (with what it continued) and its output
};

struct ResponseStoreOptions {
  size_t max_responses = 1000;  // 0: nothing is kept
  double ttl_seconds = 3600;
};

// Thread-safe: the HTTP strands put, get and erase concurrently.
class ResponseStore {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is injectable so tests can move time.
  explicit ResponseStore(ResponseStoreOptions options,
                         std::function<Clock::time_point()> now = &Clock::now);

  // Keeps `response` under `id`, dropping the oldest entries past the bound.
  void put(const std::string& id, StoredResponse response);
  // nullopt when never stored, deleted, evicted or expired.
  std::optional<StoredResponse> get(const std::string& id);
  // True when the id was held (and not expired).
  bool erase(const std::string& id);
  size_t size();

 private:
  struct Entry {
    std::string id;
    Clock::time_point expires;
    StoredResponse value;
  };
  // Under mu_: drops expired entries. Entries are kept in insertion order and all live the
  // same time, so the expired ones are a prefix of the list.
  void drop_expired(Clock::time_point now);

  const ResponseStoreOptions options_;
  const std::function<Clock::time_point()> now_;
  std::mutex mu_;
  std::list<Entry> entries_;  // oldest first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace kiln::server
