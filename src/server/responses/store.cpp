#include "server/responses/store.h"

#include <vector>

namespace kiln::server {

Json conversation_items(const ConversationPtr& conversation) {
  std::vector<const ConversationSegment*> chain;
  for (const ConversationSegment* s = conversation.get(); s; s = s->parent.get())
    chain.push_back(s);
  Json items = Json::array();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const Json& item : (*it)->items) items.push_back(item);
  return items;
}

ResponseStore::ResponseStore(ResponseStoreOptions options, std::function<Clock::time_point()> now)
    : options_(options), now_(std::move(now)) {}

void ResponseStore::drop_expired(Clock::time_point now) {
  while (!entries_.empty() && entries_.front().expires <= now) {
    index_.erase(entries_.front().id);
    entries_.pop_front();
  }
}

void ResponseStore::put(const std::string& id, StoredResponse response) {
  if (options_.max_responses == 0) return;
  const Clock::time_point now = now_();
  const auto ttl = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(options_.ttl_seconds));
  std::lock_guard lock(mu_);
  drop_expired(now);
  if (auto found = index_.find(id); found != index_.end()) {  // ids are random; be safe
    entries_.erase(found->second);
    index_.erase(found);
  }
  entries_.push_back(Entry{id, now + ttl, std::move(response)});
  index_[id] = std::prev(entries_.end());
  while (entries_.size() > options_.max_responses) {
    index_.erase(entries_.front().id);
    entries_.pop_front();
  }
}

std::optional<StoredResponse> ResponseStore::get(const std::string& id) {
  const Clock::time_point now = now_();
  std::lock_guard lock(mu_);
  drop_expired(now);
  auto found = index_.find(id);
  if (found == index_.end()) return std::nullopt;
  return found->second->value;
}

bool ResponseStore::erase(const std::string& id) {
  const Clock::time_point now = now_();
  std::lock_guard lock(mu_);
  drop_expired(now);
  auto found = index_.find(id);
  if (found == index_.end()) return false;
  entries_.erase(found->second);
  index_.erase(found);
  return true;
}

size_t ResponseStore::size() {
  const Clock::time_point now = now_();
  std::lock_guard lock(mu_);
  drop_expired(now);
  return entries_.size();
}

}  // namespace kiln::server
