// hub_core_subscriptions.cpp: HubCore's subscriptions: adding one and asking the broker for its
// history, the opening of a stream's channels together, and removing one.
#include "core/hub_core.hpp"

#include <algorithm>

#include "core/hub_core_records.hpp"

namespace rthub {

bool HubCore::subscribe(Session& session, const std::string& channel,
                        const std::optional<Position>& since, std::string ref,
                        std::shared_ptr<StreamOpening> opening, bool snapshot, bool presence) {
  SessionRecord& record = record_of(session);
  for (const auto& s : record.slots) {
    if (s && s->channel == channel) {
      send_error(session, codec::ErrorCode::kBadRequest, "already subscribed to " + channel, ref);
      return false;
    }
  }
  if (options_.max_subscriptions && record.count >= options_.max_subscriptions) {
    send_error(session, codec::ErrorCode::kLimit,
               "too many subscriptions (max " + std::to_string(options_.max_subscriptions) + ")",
               ref);
    return false;
  }

  auto sub = std::make_shared<Subscription>();
  sub->session = &session;
  sub->channel = channel;
  sub->opening = std::move(opening);
  sub->snapshot = snapshot;
  sub->presence = presence;
  size_t slot = 0;
  while (slot < record.slots.size() && record.slots[slot]) ++slot;
  if (slot == record.slots.size()) record.slots.emplace_back();
  record.slots[slot] = sub;
  record.count++;
  sub->slot = static_cast<uint32_t>(slot);
  auto& cursors = session.cursors();
  if (cursors.size() <= slot) cursors.resize(slot + 1);
  cursors[slot] = Session::Cursor{channel, {}, 0};

  auto& subscribers = channels_[channel];
  sub->index_in_channel = subscribers.size();
  subscribers.push_back(sub.get());
  metrics_.subscriptions.add();

  std::weak_ptr<Subscription> weak = sub;
  auto answered = [this, weak, since, ref](HistoryOutcome& history) {
    if (auto live = weak.lock())
      if (!live->removed) finish_subscribe(live, history, since, ref);
  };
  if (snapshot)
    broker_->history_with_snapshot(channel, since, answered);
  else
    broker_->history(channel, since, answered);
  metrics_.channels.set(broker_->channel_count());
  return true;
}

void HubCore::finish_subscribe(const std::shared_ptr<Subscription>& sub, HistoryOutcome& history,
                               const std::optional<Position>& since, const std::string& ref) {
  Session& session = *sub->session;
  refresh_clock();  // a broker answer: the subscribed frame is queued now
  if (history.error != BrokerError::kOk) {
    remove_subscription(*sub);
    // A stream that cannot take an error object ends, and the client retries by itself.
    if (!session.kind().carries_errors()) {
      session.set_closing();
      return session.close(CloseCode::kInternal, "broker unavailable");
    }
    if (history.error == BrokerError::kUnsupported)
      return send_error(session, codec::ErrorCode::kUnsupported,
                        "snapshots are not supported by this broker", ref);
    return send_error(session, codec::ErrorCode::kUnavailable,
                      "broker unavailable, subscribe again", ref);
  }
  std::optional<bool> recovered;
  if (since) {
    recovered = history.recovered;
    (history.recovered ? metrics_.resumes_recovered : metrics_.resumes_lost).add();
    if (!session.resumed) {
      session.resumed = true;
      metrics_.of(session.kind()).reconnects.add();
    }
  }
  // The cursor starts where the client stands: at `since` when it is honoured, else at latest.
  uint64_t start = history.recovered ? since->seq : history.latest.seq;
  Session::Cursor& cursor = session.cursors()[sub->slot];
  cursor.epoch = history.latest.epoch;
  cursor.seq = start;
  sub->epoch = history.latest.epoch;
  sub->last_seq = start;

  Outbound head;
  head.frame = codec::make_frame(session.kind(),
                                 codec::subscribed(sub->channel, history.latest, recovered, ref));
  head.slot = sub->slot;
  head.seq = start;
  if (!enqueue(session, std::move(head))) return;

  if (auto opening = sub->opening) {
    opening->ready.emplace_back(sub, std::move(history));
    return stream_step(opening);
  }
  replay(*sub, history.messages, &history);
}

void HubCore::stream_step(const std::shared_ptr<StreamOpening>& opening) {
  if (--opening->remaining > 0) return;
  // In the order of the stream's channels (their slots), whatever order the broker answered in.
  std::sort(opening->ready.begin(), opening->ready.end(),
            [](const auto& a, const auto& b) { return a.first->slot < b.first->slot; });
  for (auto& [sub, history] : opening->ready) {
    sub->opening.reset();
    if (!sub->removed && !sub->session->closing()) replay(*sub, history.messages, &history);
  }
  opening->ready.clear();
}

void HubCore::open_stream(Session& session, const std::vector<std::string>& channels,
                          const StreamResume& resume, bool snapshot) {
  bool resuming = resume.resuming;
  const auto& positions = resume.positions;
  auto opening = std::make_shared<StreamOpening>();
  for (const auto& channel : channels) {
    std::optional<Position> since;
    if (resuming) {
      auto it = positions.find(channel);
      // A channel the cursor does not cover was asked to resume but cannot: recovered:false.
      since = it != positions.end() ? it->second : Position{};
    }
    opening->remaining++;
    if (!subscribe(session, channel, since, {}, opening, snapshot)) opening->remaining--;
  }
  stream_step(opening);  // drops open_stream's own count
}

void HubCore::unsubscribe(Session& session, const std::string& channel, std::string_view ref) {
  SessionRecord& record = record_of(session);
  for (auto& s : record.slots) {
    if (s && s->channel == channel) {
      remove_subscription(*s);
      return send_control(session, codec::unsubscribed(channel, ref));
    }
  }
  send_error(session, codec::ErrorCode::kNotFound, "not subscribed to " + channel, ref);
}

void HubCore::remove_subscription(Subscription& sub) {
  if (sub.removed) return;
  sub.removed = true;
  if (!sub.pending && presence_supported()) announce(sub, Membership::kLeft);
  auto it = channels_.find(sub.channel);
  if (it != channels_.end()) {
    auto& subscribers = it->second;
    size_t i = sub.index_in_channel;
    subscribers[i] = subscribers.back();
    subscribers[i]->index_in_channel = i;
    subscribers.pop_back();
    if (subscribers.empty()) {
      std::string name = it->first;
      channels_.erase(it);
      broker_->release(name);
      metrics_.channels.set(broker_->channel_count());
    }
  }
  metrics_.subscriptions.sub();
  Session& session = *sub.session;
  if (session.host_index < sessions_.size()) {
    SessionRecord& record = record_of(session);
    auto keep = record.slots[sub.slot];  // keeps `sub` alive until we return
    record.slots[sub.slot].reset();
    record.count--;
    if (sub.slot < session.cursors().size()) session.cursors()[sub.slot] = Session::Cursor{};
  }
}

}  // namespace rthub
