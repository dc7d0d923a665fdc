// persisting_broker.hpp: a broker decorator that keeps history beyond the live window in a store.
//
// It wraps the configured broker (memory, shared or Redis) and changes three things:
// - publish: once the inner broker has given a persisted channel's message its position, the
//   message goes to the store. Only the node (and shard) that published it sees that completion,
//   so with Redis each message is written once, by its publisher. Messages ingested from bridged
//   Redis channels have no publisher on the hub and are not persisted.
// - history: a resume the inner broker cannot honour (its cursor is older than the live window)
//   is read from the store: the rows after the cursor, then, if the store stops short of the
//   channel's latest seq (rows another node has not written yet), the inner broker's window from
//   there. Only a contiguous run from cursor + 1 to the latest seq is recovered:true; anything
//   else answers as the inner broker did (recovered:false). The hub holds the live messages that
//   arrive meanwhile and joins them without a gap or a duplicate (HubCore::Subscription).
// - history_page: the history API, read from the store in the channel's current epoch.
// Keyed messages and snapshots are the inner broker's: a keyed publish goes to the store like any
// other (the store also keeps each key's latest message, for a restart of a single node), and a
// snapshot subscribe is the inner broker's history_with_snapshot, except that a resume the inner
// broker cannot honour is first tried from the store, as above: recovered from there, it needs no
// snapshot; not recovered, it gets the inner broker's snapshot.
//
// Threads: like every broker, on its shard's service thread; store answers come back through
// `post`, and are dropped when the shard has stopped.
#pragma once

#include <functional>
#include <memory>

#include "rthub/broker.hpp"
#include "rthub/history.hpp"

namespace rthub {

class PersistingBroker final : public Broker {
 public:
  // Runs a task on this shard's service thread; false once it stopped.
  using Post = std::function<bool(std::function<void()>)>;
  // A resume replays at most this many messages from the store; an older cursor gets
  // recovered:false (the client reloads instead of receiving an unbounded replay).
  static constexpr size_t kMaxReplay = 100000;

  PersistingBroker(std::unique_ptr<Broker> inner, HistoryStore& store, Post post);

  void attach(BrokerListener& listener) override { inner_->attach(listener); }
  void publish(Message message, std::function<void(const PublishOutcome&)> done) override;
  void history(const std::string& channel, const std::optional<Position>& since,
               std::function<void(HistoryOutcome&)> done) override {
    resume(channel, since, false, std::move(done));
  }
  bool keeps_keys() const override { return inner_->keeps_keys(); }
  void history_with_snapshot(const std::string& channel, const std::optional<Position>& since,
                             std::function<void(HistoryOutcome&)> done) override {
    resume(channel, since, true, std::move(done));
  }
  void history_page(const std::string& channel, const HistoryQuery& query,
                    std::function<void(HistoryPage&)> done) override;
  void release(const std::string& channel) override { inner_->release(channel); }
  void tick(int64_t now_ms) override { inner_->tick(now_ms); }
  size_t history_bytes() const override { return inner_->history_bytes(); }
  size_t channel_count() const override { return inner_->channel_count(); }
  bool ready() const override {
    return inner_->ready();
  }  // an outage of the store is no outage of the hub
  void stop() override { inner_->stop(); }
  void render_metrics(std::string& out) const override;
  bool shares_presence() const override { return inner_->shares_presence(); }
  void presence_join(const std::string& channel, uint64_t id, const std::string& client,
                     bool watching) override {
    inner_->presence_join(channel, id, client, watching);
  }
  void presence_leave(const std::string& channel, uint64_t id, const std::string& client) override {
    inner_->presence_leave(channel, id, client);
  }
  void presence_clients(const std::string& channel,
                        std::function<void(const std::string*)> done) override {
    inner_->presence_clients(channel, std::move(done));
  }

 private:
  // history() or, with `snapshot`, history_with_snapshot() of the inner broker, with the store
  // filling in what the inner broker no longer retains.
  void resume(const std::string& channel, const std::optional<Position>& since, bool snapshot,
              std::function<void(HistoryOutcome&)> done);
  // Completes a resume from the store's rows (after `since`, up to the latest of `live`).
  void join_store_rows(const std::string& channel, const Position& since,
                       std::shared_ptr<HistoryOutcome> live, std::vector<Message> rows,
                       std::function<void(HistoryOutcome&)> done);

  std::unique_ptr<Broker> inner_;
  HistoryStore& store_;
  Post post_;
};

// The longest run of `rows` (ascending seq) that continues `after` without a gap: how many of
// them follow after, after + 1, ... in order.
size_t contiguous_after(uint64_t after, const std::vector<Message>& rows);

}  // namespace rthub
