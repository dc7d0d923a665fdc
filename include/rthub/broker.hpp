// broker.hpp: the seam that assigns positions and carries messages between hub nodes.
//
// A broker assigns each published message its (epoch, seq), keeps the channel's history and
// hands every message, in seq order per channel, to the hub's BrokerListener. The in-memory
// broker serves one node; other brokers (Redis) make many nodes one hub.
//
// Threads: every method is called on the hub's service thread, and every callback (listener and
// completions) runs on the service thread too. A broker must never block that thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rthub/history.hpp"
#include "rthub/message.hpp"

namespace rthub {

// kUnavailable: surely not published (the command never left); kUnknownOutcome: it may have been
// (sent, but no answer came in time).
// kTooManyKeys: a new key past the channel's bound (nothing published); kUnsupported: this broker
// cannot do what was asked (keyed messages, snapshots).
enum class BrokerError {
  kOk = 0,
  kUnavailable,
  kInternal,
  kUnknownOutcome,
  kTooManyKeys,
  kUnsupported
};

// The hub side of a broker.
class BrokerListener {
 public:
  virtual ~BrokerListener() = default;
  // A message with its position, to deliver to local subscribers. Called in seq order per channel.
  virtual void on_broker_message(const EnvelopePtr& message) = 0;
  // Whether any local session still subscribes to `channel` (the broker may free idle channels).
  virtual bool has_subscribers(const std::string& channel) const = 0;
  // A member of `channel` joined or left (`op` "join" or "leave") somewhere the broker shares
  // presence with (another shard): tell the local presence subscribers other than session `id`.
  virtual void on_presence(const std::string& channel, const char* op, uint64_t id,
                           const std::string& client) {
    (void)channel, (void)op, (void)id, (void)client;
  }
};

struct PublishOutcome {
  BrokerError error = BrokerError::kOk;
  std::string detail;
  Position position;
};

struct HistoryOutcome {
  BrokerError error = BrokerError::kOk;
  Position latest;                    // the channel's epoch and latest seq now
  bool recovered = false;             // every message after `since` is in `messages`
  std::vector<EnvelopePtr> messages;  // retained messages after `since`, in order
  // Asked with a snapshot and `since` not recovered: the latest message of every key of the
  // channel at `latest`, in seq order (deleted keys absent).
  bool has_snapshot = false;
  std::vector<EnvelopePtr> snapshot;
};

class Broker {
 public:
  virtual ~Broker() = default;
  // Called once before use; the listener outlives the broker's use of it.
  virtual void attach(BrokerListener& listener) = 0;
  // Assigns the next position of message.channel and distributes the message. `done` runs once
  // the position is assigned (or on failure); the listener may see the message before or after.
  virtual void publish(Message message, std::function<void(const PublishOutcome&)> done) = 0;
  // The channel's current position and, with `since`, the retained messages after it.
  virtual void history(const std::string& channel, const std::optional<Position>& since,
                       std::function<void(HistoryOutcome&)> done) = 0;
  // Whether this broker keeps keyed messages (publishes with a key, snapshots).
  virtual bool keeps_keys() const { return false; }
  // As history(); and when `since` is absent or cannot be recovered, the channel's snapshot at
  // the same position (HistoryOutcome::snapshot), taken atomically with it.
  virtual void history_with_snapshot(const std::string& channel,
                                     const std::optional<Position>& since,
                                     std::function<void(HistoryOutcome&)> done) {
    (void)channel;
    (void)since;
    HistoryOutcome outcome;
    outcome.error = BrokerError::kUnsupported;
    done(outcome);
  }
  // The last local subscriber of `channel` left.
  virtual void release(const std::string& channel) = 0;
  // Periodic housekeeping (history expiry); `now_ms` is wall clock.
  virtual void tick(int64_t now_ms) = 0;
  // Bytes held by retained history in this process, for metrics.
  virtual size_t history_bytes() const = 0;
  virtual size_t channel_count() const = 0;
  // Whether publishing can work now (GET /healthz answers 503 while not).
  virtual bool ready() const { return true; }
  // The hub is stopping: release connections and timers so the loop can end.
  virtual void stop() {}
  // Appends the broker's own Prometheus metrics.
  virtual void render_metrics(std::string& out) const { (void)out; }
  // A page of the channel's history beyond the live window (the history API). Only a broker
  // backed by a history store has one; `done` runs on the service thread.
  virtual void history_page(const std::string& channel, const HistoryQuery& /*query*/,
                            std::function<void(HistoryPage&)> done) {
    HistoryPage page;
    page.status = HistoryStatus::kNotPersisted;
    page.channel = channel;
    done(page);
  }
  // Presence kept by the broker for every core attached to it (the shards of one process), so
  // each core reports joins and leaves here and hears them back through on_presence. False: the
  // core keeps its own channel's members.
  virtual bool shares_presence() const { return false; }
  // Session `id` (unique among the cores sharing) is now a member of `channel`, or no longer;
  // `client` is its client object {"id":N,"user":...}; `watching`: it asked for presence events.
  virtual void presence_join(const std::string& channel, uint64_t id, const std::string& client,
                             bool watching) {
    (void)channel, (void)id, (void)client, (void)watching;
  }
  virtual void presence_leave(const std::string& channel, uint64_t id, const std::string& client) {
    (void)channel, (void)id, (void)client;
  }
  // The JSON array of `channel`'s members, by id, to `done` (on the service thread, maybe later;
  // null when the broker cannot tell now, e.g. Redis unreachable).
  virtual void presence_clients(const std::string& channel,
                                std::function<void(const std::string* clients)> done) {
    (void)channel;
    const std::string none = "[]";
    done(&none);
  }
};

}  // namespace rthub
