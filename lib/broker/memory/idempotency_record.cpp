#include "broker/memory/idempotency_record.hpp"

namespace rthub {

IdempotencyRecord::IdempotencyRecord(int64_t window_ms, size_t max_bytes)
    : window_ms_(window_ms), max_bytes_(max_bytes) {}

// A channel name never holds a NUL byte, so the pair maps to one string without ambiguity.
std::string IdempotencyRecord::id_of(const std::string& channel, const std::string& key) {
  std::string id;
  id.reserve(channel.size() + 1 + key.size());
  id += channel;
  id.push_back('\0');
  id += key;
  return id;
}

// The id, the epoch, the hash node and the queue slot, roughly.
size_t IdempotencyRecord::cost(const std::string& id, const Entry& entry) {
  return 96 + id.size() + entry.position.epoch.size();
}

const Position* IdempotencyRecord::find(const std::string& channel, const std::string& key,
                                        int64_t now_ms) {
  if (window_ms_ <= 0) return nullptr;
  expire(now_ms);
  auto it = entries_.find(id_of(channel, key));
  return it == entries_.end() ? nullptr : &it->second.position;
}

void IdempotencyRecord::remember(const std::string& channel, const std::string& key,
                                 const Position& position, int64_t now_ms) {
  if (window_ms_ <= 0) return;
  expire(now_ms);
  auto [it, added] = entries_.emplace(id_of(channel, key), Entry{position, now_ms + window_ms_});
  if (!added) return;
  order_.push_back(&*it);
  bytes_ += cost(it->first, it->second);
  while (bytes_ > max_bytes_ && order_.size() > 1) {
    drop_oldest();
    evicted_++;
  }
}

void IdempotencyRecord::expire(int64_t now_ms) {
  while (!order_.empty() && order_.front()->second.expires_ms <= now_ms) drop_oldest();
}

void IdempotencyRecord::drop_oldest() {
  const Entries::value_type* oldest = order_.front();
  order_.pop_front();
  bytes_ -= cost(oldest->first, oldest->second);
  entries_.erase(entries_.find(oldest->first));  // by iterator: the key lives in the node
}

}  // namespace rthub
