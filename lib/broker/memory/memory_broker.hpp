// memory_broker.hpp: the single-node broker. Positions and history live in this process.
//
// Each channel keeps a ring of its latest messages, bounded by count and by age. A channel's epoch
// is drawn at random when the channel is created, so a restarted hub never repeats an earlier
// (epoch, seq). A freed channel leaves a small tombstone with its position, so that when it comes
// back its numbering goes on: a quiet channel whose subscribers all left and came back still
// resumes exactly. Tombstones are bounded; past the bound the oldest are forgotten, and those
// channels start a new epoch (their clients get recovered:false, never a wrong replay).
//
// A publish carrying an idempotency key that repeats one seen on its channel within the window
// is answered with the first one's position and not published again (idempotency_record.hpp).
// Publishing here completes before publish() returns, so no repeat can overtake a first one.
//
// Keyed messages: a channel keeps the latest message of each key (a "delete" removes the key), at
// most max_keys of them; a publish of a new key past that is refused, never evicting another. A
// channel holding keys is never freed, whatever its history and subscribers: its keys are state.
#pragma once

#include <deque>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/memory/idempotency_record.hpp"
#include "rthub/broker.hpp"

namespace rthub {

class MemoryBroker final : public Broker {
 public:
  MemoryBroker(size_t history_size, int history_ttl_seconds, int idempotency_window_seconds = 300,
               size_t max_keys = 10000);
  // At most this much memory remembers idempotency keys; past it the oldest are forgotten early.
  static constexpr size_t kIdempotencyBytes = size_t{64} << 20;

  void attach(BrokerListener& listener) override { listener_ = &listener; }
  void publish(Message message, std::function<void(const PublishOutcome&)> done) override;
  void history(const std::string& channel, const std::optional<Position>& since,
               std::function<void(HistoryOutcome&)> done) override;
  bool keeps_keys() const override { return true; }
  void history_with_snapshot(const std::string& channel, const std::optional<Position>& since,
                             std::function<void(HistoryOutcome&)> done) override;
  void release(const std::string& channel) override;
  void tick(int64_t now_ms) override;
  size_t history_bytes() const override { return bytes_ + keyed_bytes_; }
  size_t channel_count() const override { return logs_.size(); }
  void render_metrics(std::string& out) const override;
  // Continues `channel`'s numbering from `position` (a restart read it from the history store):
  // the channel is created with it when first used. Call before the first publish.
  void seed(const std::string& channel, const Position& position);
  // Restores `channel`'s keyed state (a restart read it from the history store): the channel
  // stands at `at` with `items` as its keys. An empty `at.epoch` draws a new epoch, the numbering
  // going on from at.seq. All items are kept even past max_keys (state is never dropped); new keys
  // are refused until the channel is back under the bound. Call before the first publish.
  void seed_keys(const std::string& channel, const Position& at, std::vector<Message> items);

 private:
  struct Log {
    std::string epoch;
    uint64_t seq = 0;
    std::deque<EnvelopePtr> retained;
    std::unordered_map<std::string, EnvelopePtr> keyed;  // the latest message of each key
  };
  // Whether the channel can be forgotten: nothing retained and no keys.
  static bool idle(const Log& log) { return log.retained.empty() && log.keyed.empty(); }
  // Applies a keyed message to its channel's keys; false (nothing changed) past max_keys.
  bool keep_key(Log& log, const EnvelopePtr& envelope);
  bool fits_key(const Log& log, const Message& message) const;
  Log& log_of(const std::string& channel);
  // Frees a channel, remembering where its numbering stood.
  void free_channel(std::unordered_map<std::string, Log>::iterator it);
  void drop_oldest(Log& log);
  std::string new_epoch();
  static size_t cost(const Envelope& e);

  size_t history_size_;
  int64_t ttl_ms_;
  BrokerListener* listener_ = nullptr;
  std::unordered_map<std::string, Log> logs_;
  static constexpr size_t kMaxTombstones = 65536;
  struct Tombstone {
    Position position;
    uint64_t generation;
  };
  std::unordered_map<std::string, Tombstone> tombstones_;
  std::deque<std::pair<std::string, uint64_t>>
      tombstone_order_;  // oldest first; stale entries skipped
  uint64_t tombstone_generation_ = 0;
  size_t bytes_ = 0;
  size_t keyed_bytes_ = 0;
  size_t max_keys_;
  std::mt19937_64 random_;
  IdempotencyRecord idempotency_;
};

}  // namespace rthub
