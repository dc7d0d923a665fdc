// idempotency_record.hpp: the positions that publishes carrying an idempotency key got, per
// channel, for the idempotency window, so that a repeat is answered with the first one's
// position instead of being published again.
//
// Every entry lives for the same window and time only moves forward, so the oldest entry is
// also the first to expire: one queue in insertion order serves both expiry and the memory
// bound. Past the bound the oldest entries are forgotten before their window ends (counted in
// evicted(), see docs/OPERATIONS.md "Publish outcomes").
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "rthub/message.hpp"

namespace rthub {

class IdempotencyRecord {
 public:
  // `window_ms` <= 0: keys are not recorded (every publish is new).
  IdempotencyRecord(int64_t window_ms, size_t max_bytes);

  // The position the first publish with `key` on `channel` got, while its window lasts; null
  // when there is none. `now_ms` is a monotonic clock, never less than in an earlier call.
  const Position* find(const std::string& channel, const std::string& key, int64_t now_ms);
  // Records the position a publish with `key` on `channel` got (a key already recorded keeps
  // its first position).
  void remember(const std::string& channel, const std::string& key, const Position& position,
                int64_t now_ms);

  size_t size() const { return entries_.size(); }
  size_t bytes() const { return bytes_; }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    Position position;
    int64_t expires_ms;
  };
  using Entries = std::unordered_map<std::string, Entry>;

  static std::string id_of(const std::string& channel, const std::string& key);
  static size_t cost(const std::string& id, const Entry& entry);
  void expire(int64_t now_ms);
  void drop_oldest();

  int64_t window_ms_;
  size_t max_bytes_;
  Entries entries_;
  std::deque<const Entries::value_type*> order_;  // oldest first; nodes survive rehashing
  size_t bytes_ = 0;
  uint64_t evicted_ = 0;
};

}  // namespace rthub
