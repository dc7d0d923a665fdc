#include "broker/memory/memory_broker.hpp"

#include "core/epoch.hpp"

#include <algorithm>
#include <chrono>

namespace rthub {

namespace {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

MemoryBroker::MemoryBroker(size_t history_size, int history_ttl_seconds,
                           int idempotency_window_seconds, size_t max_keys)
    : history_size_(history_size),
      ttl_ms_(static_cast<int64_t>(history_ttl_seconds) * 1000),
      max_keys_(max_keys),
      random_(std::random_device{}() ^
              static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())),
      idempotency_(static_cast<int64_t>(idempotency_window_seconds) * 1000, kIdempotencyBytes) {}

std::string MemoryBroker::new_epoch() {
  return rthub::new_epoch(random_);
}

// What a retained message holds: the envelope and its text (its frames are dropped after the
// fan-out, see codec::forget_frames), plus the allocator's share.
size_t MemoryBroker::cost(const Envelope& e) {
  const Message& m = e.message;
  return sizeof(Envelope) + 64 + m.channel.size() + m.type.size() + m.data.size();
}

MemoryBroker::Log& MemoryBroker::log_of(const std::string& channel) {
  auto it = logs_.find(channel);
  if (it == logs_.end()) {
    it = logs_.emplace(channel, Log{}).first;
    auto tomb = tombstones_.find(channel);
    if (tomb != tombstones_.end()) {
      it->second.epoch = std::move(tomb->second.position.epoch);
      it->second.seq = tomb->second.position.seq;
      tombstones_.erase(tomb);
    } else {
      it->second.epoch = new_epoch();
    }
  }
  return it->second;
}

void MemoryBroker::free_channel(std::unordered_map<std::string, Log>::iterator it) {
  uint64_t generation = ++tombstone_generation_;
  tombstones_[it->first] = Tombstone{Position{it->second.epoch, it->second.seq}, generation};
  tombstone_order_.emplace_back(it->first, generation);
  while (tombstone_order_.size() > kMaxTombstones) {
    // Only the entry that made the tombstone removes it; a channel freed again made a newer one.
    auto& [name, made] = tombstone_order_.front();
    auto tomb = tombstones_.find(name);
    if (tomb != tombstones_.end() && tomb->second.generation == made) tombstones_.erase(tomb);
    tombstone_order_.pop_front();
  }
  logs_.erase(it);
}

void MemoryBroker::seed(const std::string& channel, const Position& position) {
  // A tombstone is exactly "a channel that was here and will go on": it takes the same bound.
  uint64_t generation = ++tombstone_generation_;
  tombstones_[channel] = Tombstone{position, generation};
  tombstone_order_.emplace_back(channel, generation);
  while (tombstone_order_.size() > kMaxTombstones) {
    auto& [name, made] = tombstone_order_.front();
    auto tomb = tombstones_.find(name);
    if (tomb != tombstones_.end() && tomb->second.generation == made) tombstones_.erase(tomb);
    tombstone_order_.pop_front();
  }
}

void MemoryBroker::seed_keys(const std::string& channel, const Position& at,
                             std::vector<Message> items) {
  tombstones_.erase(channel);  // the log made here supersedes a seeded position
  Log& log = logs_[channel];
  log.epoch = at.epoch.empty() ? new_epoch() : at.epoch;
  log.seq = at.seq;
  for (Message& item : items) {
    if (item.key.empty() || item.deleted) continue;
    auto envelope = std::make_shared<Envelope>();
    envelope->message = std::move(item);
    auto [it, fresh] = log.keyed.emplace(envelope->message.key, envelope);
    if (!fresh) {
      keyed_bytes_ -= cost(*it->second) + it->first.size();
      it->second = envelope;
    }
    keyed_bytes_ += cost(*envelope) + it->first.size();
  }
}

void MemoryBroker::drop_oldest(Log& log) {
  bytes_ -= cost(*log.retained.front());
  log.retained.pop_front();
}

void MemoryBroker::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  std::string key = std::move(message.idempotency_key);  // not kept in the history
  if (!key.empty()) {
    int64_t now = steady_ms();
    if (const Position* first = idempotency_.find(message.channel, key, now)) {
      PublishOutcome outcome;
      outcome.position = *first;
      if (done) done(outcome);
      return;  // a repeat: answered, delivered to nobody
    }
  }
  Log& log = log_of(message.channel);
  if (!fits_key(log, message)) {
    PublishOutcome outcome;
    outcome.error = BrokerError::kTooManyKeys;
    outcome.detail = "channel has " + std::to_string(max_keys_) + " keys already (max keys)";
    if (done) done(outcome);
    return;
  }
  message.position = Position{log.epoch, ++log.seq};
  if (!key.empty()) idempotency_.remember(message.channel, key, message.position, steady_ms());
  auto envelope = std::make_shared<Envelope>();
  envelope->published_us = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  envelope->message = std::move(message);
  if (!envelope->message.key.empty()) keep_key(log, envelope);
  if (history_size_ > 0) {
    log.retained.push_back(envelope);
    bytes_ += cost(*envelope);
    if (log.retained.size() > history_size_) drop_oldest(log);
  }
  PublishOutcome outcome;
  outcome.position = envelope->message.position;
  const std::string channel = envelope->message.channel;
  if (listener_) listener_->on_broker_message(envelope);
  if (history_size_ == 0 && listener_ && !listener_->has_subscribers(channel) &&
      idle(logs_.find(channel)->second)) {
    free_channel(logs_.find(channel));  // nothing retained and nobody listening
  }
  if (done) done(outcome);
}

void MemoryBroker::history(const std::string& channel, const std::optional<Position>& since,
                           std::function<void(HistoryOutcome&)> done) {
  Log& log = log_of(channel);
  HistoryOutcome outcome;
  outcome.latest = Position{log.epoch, log.seq};
  if (since && since->epoch == log.epoch && since->seq <= log.seq) {
    // Recoverable when every seq after `since` is still retained.
    uint64_t oldest =
        log.retained.empty() ? log.seq + 1 : log.retained.front()->message.position.seq;
    if (since->seq + 1 >= oldest) {
      outcome.recovered = true;
      for (const auto& e : log.retained)
        if (e->message.position.seq > since->seq) outcome.messages.push_back(e);
    }
  }
  done(outcome);
}

bool MemoryBroker::fits_key(const Log& log, const Message& message) const {
  if (message.key.empty() || message.deleted) return true;
  return log.keyed.size() < max_keys_ || log.keyed.count(message.key) != 0;
}

bool MemoryBroker::keep_key(Log& log, const EnvelopePtr& envelope) {
  const Message& m = envelope->message;
  auto it = log.keyed.find(m.key);
  if (it != log.keyed.end()) {
    keyed_bytes_ -= cost(*it->second) + it->first.size();
    if (m.deleted) {
      log.keyed.erase(it);
      return true;
    }
    it->second = envelope;
  } else {
    if (m.deleted) return true;
    if (log.keyed.size() >= max_keys_) return false;
    it = log.keyed.emplace(m.key, envelope).first;
  }
  keyed_bytes_ += cost(*envelope) + m.key.size();
  return true;
}

void MemoryBroker::history_with_snapshot(const std::string& channel,
                                         const std::optional<Position>& since,
                                         std::function<void(HistoryOutcome&)> done) {
  // Synchronous, like history(): the snapshot and the position are of the same instant.
  history(channel, since, [this, &channel, &done](HistoryOutcome& outcome) {
    if (!outcome.recovered) {
      outcome.has_snapshot = true;
      outcome.messages.clear();
      auto it = logs_.find(channel);
      if (it != logs_.end()) {
        for (const auto& item : it->second.keyed) outcome.snapshot.push_back(item.second);
        std::sort(outcome.snapshot.begin(), outcome.snapshot.end(),
                  [](const EnvelopePtr& a, const EnvelopePtr& b) {
                    return a->message.position.seq < b->message.position.seq;
                  });
      }
    }
    done(outcome);
  });
}

void MemoryBroker::release(const std::string& channel) {
  auto it = logs_.find(channel);
  if (it != logs_.end() && idle(it->second)) free_channel(it);
}

void MemoryBroker::tick(int64_t now_ms) {
  for (auto it = logs_.begin(); it != logs_.end();) {
    Log& log = it->second;
    while (!log.retained.empty() && now_ms - log.retained.front()->message.ts_ms > ttl_ms_)
      drop_oldest(log);
    if (idle(log) && listener_ && !listener_->has_subscribers(it->first)) {
      free_channel(it++);
    } else {
      ++it;
    }
  }
}

void MemoryBroker::render_metrics(std::string& out) const {
  out +=
      "# HELP rthub_idempotency_keys Idempotency keys remembered (their window not over).\n"
      "# TYPE rthub_idempotency_keys gauge\n"
      "rthub_idempotency_keys " +
      std::to_string(idempotency_.size()) +
      "\n"
      "# HELP rthub_idempotency_evicted_total Keys forgotten before their window ended (memory "
      "bound).\n"
      "# TYPE rthub_idempotency_evicted_total counter\n"
      "rthub_idempotency_evicted_total " +
      std::to_string(idempotency_.evicted()) + "\n";
}

}  // namespace rthub
