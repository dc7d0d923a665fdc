#include "core/hub_core.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/channel_name.hpp"
#include "core/jwt.hpp"
#include "core/utf8.hpp"
#include "common/sse_cursor.hpp"

namespace rthub {

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One session's interest in one channel. While `pending`, the broker is still answering the
// history request and live messages wait in `held`, so that replay and live join without a gap
// or a duplicate even when the broker answers asynchronously.
struct HubCore::Subscription {
  Session* session = nullptr;
  std::string channel;
  uint32_t slot = 0;
  size_t index_in_channel = 0;
  bool pending = true;
  bool removed = false;
  std::string epoch;      // the numbering the session follows
  uint64_t last_seq = 0;  // the last seq queued to the session
  std::vector<EnvelopePtr> held;
  std::shared_ptr<StreamOpening> opening;  // set while its stream waits for its other channels
  bool snapshot = false;                   // asked for the channel's keyed snapshot
  bool presence = false;                   // gets the channel's join and leave events
};

// One live message's fan-out on this shard, until its last queued copy is written. It holds the
// frames, so that their addresses (the keys of fanouts_) are not reused while it lives.
struct HubCore::FanOut {
  std::array<Frame, kWireFormats> frames;
  int64_t published_us = 0;
  int64_t started_ms = 0;
  int64_t last_written_us = 0;  // 0 until the first copy is written
  size_t unwritten = 0;
};

// A stream (SSE) sends every channel's `subscribed` before any replayed message: each
// subscription's replay waits here until the last channel's history has answered.
struct HubCore::StreamOpening {
  size_t remaining = 1;  // one per channel, plus one held by open_stream until it has asked all
  std::vector<std::pair<std::shared_ptr<Subscription>, HistoryOutcome>> ready;
};

HubCore::HubCore(const HubOptions& options, Metrics& metrics)
    : options_(options), metrics_(metrics), gatekeeper_(options, metrics) {}

void HubCore::use_broker(Broker& broker) {
  broker_ = &broker;
  broker_->attach(*this);
}

HubCore::~HubCore() = default;

Admission HubCore::admit(const ConnectRequest& request) {
  auto peer = per_peer_.find(request.peer);
  // The hub-wide count (every shard's connections), from the shared gauges.
  size_t open_total = metrics_.open_ws.get() + metrics_.open_sse.get();
  return gatekeeper_.admit(request, open_total, peer == per_peer_.end() ? 0 : peer->second, monotonic_us() / 1000);
}

Session* HubCore::find_session(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void HubCore::check_channel(Session& session, ChannelRequest::Action action, const std::string& channel,
                            std::function<void(Session&, bool)> then) {
  const Rights* rights = session.rights.get();
  bool allowed;
  if (action == ChannelRequest::Action::kSubscribe) {
    allowed = !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
  } else {
    allowed = (!rights || rights->anonymous) ? options_.allow_client_publish : channel_allowed(rights->publish, channel);
  }
  const auto& hook = options_.auth_hooks.on_channel;
  if (!hook || !post_) return then(session, allowed);
  ChannelRequest request{action, channel, rights ? *rights : Rights{}, allowed};
  uint64_t id = session.id;
  auto once = std::make_shared<std::atomic<bool>>(false);
  // The completion may come from any thread, even after this hub stopped: it holds only the
  // poster (whose queue refuses work once the hub is gone), never the core itself.
  ChannelCompletion completion = [post = post_, this, id, then, once](bool allow) {
    if (once->exchange(true)) return;  // a second answer is ignored
    post([this, id, then, allow] {
      if (Session* s = find_session(id)) then(*s, allow);
    });
  };
  try {
    hook(request, completion);
  } catch (...) {  // a host's exception must not unwind through the loop
    completion(false);
  }
}

void HubCore::read_history(const Rights* rights, const std::string& channel,
                           const HistoryQuery& query,
                           std::function<void(bool, HistoryPage&)> done) {
  bool allowed = !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
  auto read = [this, channel, query, done = std::move(done)](bool allow) {
    if (!allow) {
      HistoryPage none;
      none.channel = channel;
      return done(false, none);
    }
    broker_->history_page(channel, query, [done](HistoryPage& page) { done(true, page); });
  };
  const auto& hook = options_.auth_hooks.on_channel;
  if (!hook || !post_) return read(allowed);
  ChannelRequest request{ChannelRequest::Action::kSubscribe, channel, rights ? *rights : Rights{},
                         allowed};
  auto once = std::make_shared<std::atomic<bool>>(false);
  // As in check_channel: the completion holds the poster, never the core.
  ChannelCompletion completion = [post = post_, read, once](bool allow) {
    if (once->exchange(true)) return;
    post([read, allow] { read(allow); });
  };
  try {
    hook(request, completion);
  } catch (...) {
    completion(false);
  }
}

void HubCore::authorize_stream(Session& session, const std::vector<std::string>& channels,
                               std::function<void(bool, const std::string&)> done) {
  struct Pending {
    size_t remaining;
    bool refused = false;
    std::function<void(bool, const std::string&)> done;
  };
  auto pending = std::make_shared<Pending>(Pending{channels.size(), false, std::move(done)});
  for (const auto& channel : channels) {
    check_channel(session, ChannelRequest::Action::kSubscribe, channel, [pending, channel](Session&, bool allow) {
      if (pending->refused) return;
      if (!allow) {
        pending->refused = true;
        return pending->done(false, channel);
      }
      if (--pending->remaining == 0) pending->done(true, {});
    });
  }
}

void HubCore::attach(Session& session) {
  per_peer_[session.peer()]++;
  session.id = next_id_++;
  by_id_[session.id] = &session;
  session.host_index = sessions_.size();
  session.last_queued_ms = session.last_heard_ms = monotonic_us() / 1000;
  sessions_.push_back(SessionRecord{&session, {}, 0});
  // The emptiest bucket: connections that arrive together land in different slices of the sweep.
  size_t bucket = 0;
  for (size_t b = 1; b < sweep_.size(); ++b)
    if (sweep_[b].size() < sweep_[bucket].size()) bucket = b;
  sessions_.back().sweep_bucket = bucket;
  sessions_.back().sweep_index = sweep_[bucket].size();
  sweep_[bucket].push_back(&session);
  if (session.format() == WireFormat::kWebSocket) {
    metrics_.open_ws.add();
    metrics_.accepted_ws.add();
  } else {
    metrics_.open_sse.add();
    metrics_.accepted_sse.add();
  }
}

void HubCore::detach(Session& session) {
  if (session.host_index >= sessions_.size() || sessions_[session.host_index].session != &session) return;
  SessionRecord& record = record_of(session);
  for (auto& sub : record.slots)
    if (sub) remove_subscription(*sub);
  auto& bucket = sweep_[record.sweep_bucket];
  size_t in_bucket = record.sweep_index;
  if (in_bucket + 1 != bucket.size()) {
    bucket[in_bucket] = bucket.back();
    record_of(*bucket[in_bucket]).sweep_index = in_bucket;
  }
  bucket.pop_back();
  size_t index = session.host_index;
  if (index + 1 != sessions_.size()) {
    sessions_[index] = std::move(sessions_.back());
    sessions_[index].session->host_index = index;
  }
  sessions_.pop_back();
  session.host_index = SIZE_MAX;
  auto peer = per_peer_.find(session.peer());
  if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
  by_id_.erase(session.id);
  discard_queue(session);
  if (session.format() == WireFormat::kWebSocket) metrics_.open_ws.sub();
  else metrics_.open_sse.sub();
}

bool HubCore::has_subscribers(const std::string& channel) const { return channels_.count(channel) != 0; }

void HubCore::on_request(Session& session, std::string_view text) {
  json::Scan scan = json::scan_requests(text, false);
  if (!scan.ok) {
    send_error(session, codec::ErrorCode::kBadRequest, scan.error);
    return;
  }
  const json::Fields& f = scan.items.front();
  std::string ref(f.id.in(text));
  if (!f.error.empty()) return send_error(session, codec::ErrorCode::kBadRequest, f.error, ref);
  if (!f.has_op) return send_error(session, codec::ErrorCode::kBadRequest, "missing op", ref);

  if (f.op == "ping") return send_control(session, codec::pong(ref));
  if (f.op == "refresh") return refresh(session, f, ref);
  if (f.op != "subscribe" && f.op != "unsubscribe" && f.op != "publish" && f.op != "presence")
    return send_error(session, codec::ErrorCode::kBadRequest, "unknown op: " + std::string(utf8_prefix(f.op, 64)), ref);
  if (!f.has_channel) return send_error(session, codec::ErrorCode::kBadRequest, "missing channel", ref);
  if (!is_valid_channel_name(f.channel))
    return send_error(session, codec::ErrorCode::kBadRequest,
                      bad_channel_name_text(), ref);

  if (f.op == "unsubscribe") return unsubscribe(session, f.channel, ref);
  if ((f.op == "presence" || (f.op == "subscribe" && f.presence)) && !presence_supported())
    return send_error(session, codec::ErrorCode::kUnsupported,
                      "presence needs one shard and the memory broker (not --shards > 1 or --redis) for now", ref);
  if (f.op == "presence") {
    return check_channel(session, ChannelRequest::Action::kSubscribe, f.channel,
                         [this, channel = f.channel, ref](Session& s, bool allow) {
                           if (!allow) {
                             metrics_.forbidden.add();
                             return send_error(s, codec::ErrorCode::kForbidden, "may not subscribe to " + channel, ref);
                           }
                           presence_request(s, channel, ref);
                         });
  }
  if (f.op == "subscribe") {
    std::optional<Position> since;
    if (f.has_since) since = Position{f.since_epoch, f.since_seq};
    if (f.snapshot && !keeps_keys())
      return send_error(session, codec::ErrorCode::kUnsupported,
                        "snapshots are not supported with the Redis broker yet", ref);
    return check_channel(session, ChannelRequest::Action::kSubscribe, f.channel,
                         [this, channel = f.channel, since, ref, snapshot = f.snapshot,
                          presence = f.presence](Session& s, bool allow) {
                           if (!allow) {
                             metrics_.forbidden.add();
                             return send_error(s, codec::ErrorCode::kForbidden, "may not subscribe to " + channel, ref);
                           }
                           subscribe(s, channel, since, ref, nullptr, snapshot, presence);
                         });
  }
  if (f.delete_key && f.key.empty())
    return send_error(session, codec::ErrorCode::kBadRequest, "delete needs a key", ref);
  // A delete needs no data: it carries null.
  if (!f.data.present() && !f.delete_key)
    return send_error(session, codec::ErrorCode::kBadRequest, "missing data", ref);
  json::Fields fields = f;
  std::string raw_data(f.data.present() ? f.data.in(text) : std::string_view("null"));
  check_channel(session, ChannelRequest::Action::kPublish, f.channel,
                [this, fields, raw_data, ref](Session& s, bool allow) {
                  if (!allow) {
                    metrics_.forbidden.add();
                    return send_error(s, codec::ErrorCode::kForbidden, "may not publish to " + fields.channel, ref);
                  }
                  publish_request(s, fields, raw_data, ref);
                });
}

void HubCore::refresh(Session& session, const json::Fields& f, std::string_view ref) {
  if (options_.jwt_secret.empty())
    return send_error(session, codec::ErrorCode::kBadRequest, "no tokens are configured", ref);
  if (!f.has_token) return send_error(session, codec::ErrorCode::kBadRequest, "missing token", ref);
  std::string why;
  auto rights = gatekeeper_.verify_token(f.token, why);
  if (!rights) return send_error(session, codec::ErrorCode::kUnauthorized, why, ref);
  if (session.rights && !session.rights->identity.empty() && rights->identity != session.rights->identity)
    return send_error(session, codec::ErrorCode::kForbidden, "token is for another subject", ref);
  session.rights = rights;
  send_control(session, codec::refreshed(rights->expires_at, ref));
}

void HubCore::publish_request(Session& session, const json::Fields& f, const std::string& data, const std::string& ref) {
  Message m;
  m.channel = f.channel;
  if (f.has_type) m.type = f.type;
  m.data = data;
  m.idempotency_key = f.idempotency_key;
  m.key = f.key;
  m.deleted = f.delete_key;
  uint64_t id = session.id;
  publish(std::move(m), [this, id, ref, channel = f.channel](const PublishOutcome& outcome) {
    Session* target = find_session(id);  // the session may have gone while the broker worked
    if (!target) return;
    if (outcome.error == BrokerError::kUnknownOutcome)
      return send_error(*target, codec::ErrorCode::kUnknownOutcome,
                        "publish outcome unknown (" + outcome.detail + "): retry with the same idempotency_key", ref);
    if (outcome.error == BrokerError::kTooManyKeys)
      return send_error(*target, codec::ErrorCode::kTooManyKeys, outcome.detail, ref);
    if (outcome.error == BrokerError::kUnsupported)
      return send_error(*target, codec::ErrorCode::kUnsupported, outcome.detail, ref);
    if (outcome.error != BrokerError::kOk)
      return send_error(*target, codec::ErrorCode::kUnavailable,
                        outcome.detail.empty() ? "broker unavailable" : outcome.detail, ref);
    send_control(*target, codec::published(channel, outcome.position, ref));
  });
}

bool HubCore::subscribe(Session& session, const std::string& channel, const std::optional<Position>& since,
                        std::string ref, std::shared_ptr<StreamOpening> opening, bool snapshot, bool presence) {
  SessionRecord& record = record_of(session);
  for (const auto& s : record.slots) {
    if (s && s->channel == channel) {
      send_error(session, codec::ErrorCode::kBadRequest, "already subscribed to " + channel, ref);
      return false;
    }
  }
  if (options_.max_subscriptions && record.count >= options_.max_subscriptions) {
    send_error(session, codec::ErrorCode::kLimit,
               "too many subscriptions (max " + std::to_string(options_.max_subscriptions) + ")", ref);
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
  if (snapshot) broker_->history_with_snapshot(channel, since, answered);
  else broker_->history(channel, since, answered);
  metrics_.channels.set(broker_->channel_count());
  return true;
}

void HubCore::finish_subscribe(const std::shared_ptr<Subscription>& sub, HistoryOutcome& history,
                               const std::optional<Position>& since, const std::string& ref) {
  Session& session = *sub->session;
  if (history.error != BrokerError::kOk) {
    remove_subscription(*sub);
    // An SSE stream cannot take an error object: it ends, and the browser retries by itself.
    if (session.format() == WireFormat::kEventStream) {
      session.set_closing();
      return session.close(CloseCode::kInternal, "broker unavailable");
    }
    if (history.error == BrokerError::kUnsupported)
      return send_error(session, codec::ErrorCode::kUnsupported, "snapshots are not supported by this broker", ref);
    return send_error(session, codec::ErrorCode::kUnavailable, "broker unavailable, subscribe again", ref);
  }
  std::optional<bool> recovered;
  if (since) {
    recovered = history.recovered;
    (history.recovered ? metrics_.resumes_recovered : metrics_.resumes_lost).add();
    if (!session.resumed) {
      session.resumed = true;
      (session.format() == WireFormat::kWebSocket ? metrics_.reconnects_ws : metrics_.reconnects_sse).add();
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
  head.frame = codec::make_frame(session.format(), codec::subscribed(sub->channel, history.latest, recovered, ref));
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

void HubCore::send_snapshot(Subscription& sub, const HistoryOutcome& history) {
  Session& session = *sub.session;
  Position at{sub.epoch, sub.last_seq};
  // Items are encoded from the message text, never from the envelope's cached frames: with
  // shards, a keyed envelope may be shared by the brokers of other threads.
  std::vector<std::string> items;
  items.reserve(history.snapshot.size());
  for (const auto& m : history.snapshot) items.push_back(codec::message(m->message));
  // A part holds items up to this many bytes (one larger item goes alone), so that no frame
  // exceeds what the hub itself accepts as a frame. SSE sends the whole snapshot as one event.
  size_t budget = SIZE_MAX;
  if (session.format() == WireFormat::kWebSocket) {
    // The frame's own bytes: the part's object without items, plus the largest frame header.
    size_t overhead = codec::snapshot(sub.channel, at, "", true).size() + 10;
    budget = options_.max_message_bytes > overhead ? options_.max_message_bytes - overhead : 1;
  }
  std::vector<std::string> parts;
  std::string part;
  for (const auto& item : items) {
    if (!part.empty() && part.size() + 1 + item.size() > budget) {
      parts.push_back(std::move(part));
      part.clear();
    }
    if (!part.empty()) part.push_back(',');
    part += item;
  }
  parts.push_back(std::move(part));
  std::vector<Frame> frames;
  size_t bytes = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    frames.push_back(codec::make_frame(session.format(), codec::snapshot(sub.channel, at, parts[i], i + 1 < parts.size())));
    bytes += frames.back()->size();
  }
  session.add_replay_allowance(bytes);  // like a replay, a snapshot may exceed the queue bound once
  for (auto& frame : frames) {
    Outbound item;
    item.frame = std::move(frame);
    item.slot = sub.slot;
    item.seq = at.seq;
    if (!enqueue(session, std::move(item))) return;
  }
  metrics_.snapshots_sent.add();
}

void HubCore::replay(Subscription& sub, const std::vector<EnvelopePtr>& messages, const HistoryOutcome* snapshot) {
  Session& session = *sub.session;
  sub.pending = false;
  if (presence_supported()) announce(sub, "join");  // a member from now on
  if (snapshot && snapshot->has_snapshot) {
    send_snapshot(sub, *snapshot);
    if (sub.removed || session.closing()) return;
  }
  size_t replay_bytes = 0;
  for (const auto& m : messages) replay_bytes += codec::envelope_frame(*m, session.format())->size();
  session.add_replay_allowance(replay_bytes);
  for (const auto& m : messages) {
    deliver(sub, m);
    codec::forget_frames(*m);
    if (sub.removed || session.closing()) return;
  }
  // Live messages that arrived while the history was read, minus what the replay covered.
  std::vector<EnvelopePtr> held;
  held.swap(sub.held);
  for (const auto& m : held) {
    deliver(sub, m);
    if (sub.removed || session.closing()) return;
  }
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
  if (!sub.pending && presence_supported()) announce(sub, "leave");
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

void HubCore::on_broker_message(const EnvelopePtr& message) {
  if (counts_published_) metrics_.published.add();
  auto it = channels_.find(message->message.channel);
  if (it == channels_.end()) return;
  // Index loop: a slow consumer dropped here stays in the list until its transport detaches it.
  auto& subscribers = it->second;
  size_t queued = 0;
  std::array<bool, kWireFormats> formats{};
  for (size_t i = 0; i < subscribers.size(); ++i) {
    Subscription& sub = *subscribers[i];
    if (sub.pending) {
      sub.held.push_back(message);
    } else if (deliver(sub, message)) {
      ++queued;
      formats[static_cast<size_t>(sub.session->format())] = true;
    }
  }
  if (queued && message->published_us > 0) {
    // Followed until its last copy is written (on_written): the breakdown of the fan-out's time.
    metrics_.fanout_queued.observe_us(monotonic_us() - message->published_us);
    auto fanout = std::make_shared<FanOut>();
    fanout->published_us = message->published_us;
    fanout->started_ms = coarse_now_ms_;
    fanout->unwritten = queued;
    for (size_t f = 0; f < kWireFormats; ++f) {
      if (!formats[f]) continue;
      fanout->frames[f] = codec::envelope_frame(*message, static_cast<WireFormat>(f));
      fanouts_[fanout->frames[f].get()] = fanout;
    }
  }
  codec::forget_frames(*message);  // the queues hold them now; history keeps only the text
}

const std::string* HubCore::deliver(Subscription& sub, const EnvelopePtr& message) {
  const Position& p = message->message.position;
  Session& session = *sub.session;
  if (session.closing()) return nullptr;
  if (p.epoch == sub.epoch && p.seq <= sub.last_seq) return nullptr;  // already sent (replay and live overlap)
  if (p.epoch != sub.epoch || p.seq != sub.last_seq + 1) {
    // The broker lost history (a new epoch) or could not fill a gap: say so before going on,
    // exactly as a resume that could not be honoured would.
    metrics_.resumes_lost.add();
    sub.epoch = p.epoch;
    session.cursors()[sub.slot].epoch = p.epoch;
    Outbound notice;
    notice.frame = codec::make_frame(session.format(), codec::subscribed(sub.channel, Position{p.epoch, p.seq - 1}, false, {}));
    notice.slot = sub.slot;
    notice.seq = p.seq - 1;
    if (!enqueue(session, std::move(notice))) return nullptr;
  }
  Outbound item;
  item.frame = codec::envelope_frame(*message, session.format());
  item.published_us = message->published_us;
  item.slot = sub.slot;
  item.seq = p.seq;
  sub.last_seq = p.seq;
  const std::string* frame = item.frame.get();
  return enqueue(session, std::move(item)) ? frame : nullptr;
}

bool HubCore::enqueue(Session& session, Outbound item) {
  if (session.closing()) return false;
  size_t n = item.frame->size();
  if (session.queued_bytes() + n > options_.max_queue_bytes + session.replay_allowance()) {
    metrics_.slow_consumers.add();
    session.set_closing();
    discard_queue(session);
    session.close(CloseCode::kSlowConsumer, "slow consumer: resume to catch up");
    return false;
  }
  bool was_empty = session.queue().empty();
  session.add_queued_bytes(n);
  session.queue().push(std::move(item));
  session.last_queued_ms = coarse_now_ms_;  // heartbeats need seconds, not a clock read per delivery
  if (was_empty) session.want_write();
  return true;
}

namespace {

const std::string* user_of(const Session& session) {
  const Rights* r = session.rights.get();
  return r && !r->anonymous && !r->identity.empty() ? &r->identity : nullptr;
}

}  // namespace

void HubCore::announce(const Subscription& sub, const char* op) {
  auto it = channels_.find(sub.channel);
  if (it == channels_.end()) return;
  Frame frames[kWireFormats];
  for (Subscription* other : it->second) {
    if (other == &sub || !other->presence || other->pending || other->removed) continue;
    Session& to = *other->session;
    Frame& frame = frames[static_cast<size_t>(to.format())];
    if (!frame) {
      std::string client = codec::presence_client(sub.session->id, user_of(*sub.session));
      frame = codec::make_frame(to.format(), codec::presence_event(op, sub.channel, client));
    }
    Outbound item;
    item.frame = frame;
    enqueue(to, std::move(item));
  }
}

std::string HubCore::presence_clients(const std::string& channel) const {
  std::vector<const Session*> members;
  auto it = channels_.find(channel);
  if (it != channels_.end())
    for (const Subscription* sub : it->second)
      if (!sub->pending && !sub->removed) members.push_back(sub->session);
  std::sort(members.begin(), members.end(), [](const Session* a, const Session* b) { return a->id < b->id; });
  std::string out = "[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i) out += ',';
    out += codec::presence_client(members[i]->id, user_of(*members[i]));
  }
  out += ']';
  return out;
}

bool HubCore::may_subscribe(const Rights* rights, const std::string& channel) const {
  return !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
}

void HubCore::presence_request(Session& session, const std::string& channel, const std::string& ref) {
  send_control(session, codec::presence(channel, presence_clients(channel), ref));
}

void HubCore::send_control(Session& session, std::string json) {
  Outbound item;
  item.frame = codec::make_frame(session.format(), json);
  enqueue(session, std::move(item));
}

void HubCore::send_error(Session& session, codec::ErrorCode code, std::string_view text, std::string_view ref) {
  metrics_.count_error(code);
  send_control(session, codec::error(code, text, ref));
}

void HubCore::open_stream(Session& session, const std::vector<std::string>& channels, std::string_view cursor,
                          bool snapshot) {
  bool resuming = !cursor.empty();
  auto positions = sse_cursor::parse(cursor);
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

void HubCore::on_written(Session& session, const Outbound& item, int64_t now_us) {
  written_.bytes += item.frame->size();
  if (item.published_us > 0) {
    written_.deliveries++;
    written_.observe_latency_us(now_us - item.published_us);
    count_fanout_copy(item, now_us);
  }
  session.note_written(item);
}

void HubCore::count_fanout_copy(const Outbound& item, int64_t written_us) {
  // Copies of one message are mostly written one after another (one per session of a flush):
  // the last record found answers them without a hash lookup.
  const std::string* key = item.frame.get();
  if (key != fanout_hit_key_) {
    auto it = fanouts_.empty() ? fanouts_.end() : fanouts_.find(key);
    if (it == fanouts_.end()) return;
    fanout_hit_key_ = key;
    fanout_hit_ = it->second.get();
  }
  FanOut& fanout = *fanout_hit_;
  if (written_us) {
    if (!fanout.last_written_us) metrics_.fanout_first_write.observe_us(written_us - fanout.published_us);
    fanout.last_written_us = written_us;
  }
  if (--fanout.unwritten > 0) return;
  // The last copy: written now, or discarded (then the last one written, if any, was the last).
  if (fanout.last_written_us) metrics_.fanout_last_write.observe_us(fanout.last_written_us - fanout.published_us);
  fanout_hit_key_ = nullptr;
  auto keep = fanouts_[key];  // the frames stay alive until their keys are gone
  for (const Frame& frame : keep->frames)
    if (frame) fanouts_.erase(frame.get());
}

void HubCore::discard_queue(Session& session) {
  auto& queue = session.queue();
  for (; !queue.empty(); queue.pop())
    if (queue.front().published_us > 0) count_fanout_copy(queue.front(), 0);
  queue.clear();
}

void HubCore::publish_write_metrics() {
  if (written_.empty()) return;
  metrics_.add(written_);
  written_ = WriteTally{};
}

void HubCore::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  if (!message.key.empty() && !broker_->keeps_keys()) {
    PublishOutcome refused;
    refused.error = BrokerError::kUnsupported;
    refused.detail = "keyed messages are not supported with the Redis broker yet";
    if (done) done(refused);
    return;
  }
  message.ts_ms = wall_ms();
  broker_->publish(std::move(message), std::move(done));
}

void HubCore::tick() { tick_at(monotonic_us() / 1000); }

void HubCore::tick_at(int64_t now_ms) {
  coarse_now_ms_ = now_ms;
  publish_write_metrics();
  if (sweep_due_ms_ < 0) sweep_due_ms_ = now_ms;
  std::array<Frame, kWireFormats> pings;  // one ping frame per format and tick, shared
  for (int n = 0; n < kSweepSlices && now_ms >= sweep_due_ms_; ++n) {
    // By index: a visit may close a session, but the transport detaches it later, never now.
    auto& bucket = sweep_[sweep_next_];
    for (size_t i = 0; i < bucket.size(); ++i) visit(*bucket[i], now_ms, pings);
    sweep_due_ms_ += kTickMs;
    if (++sweep_next_ == sweep_.size()) {
      sweep_next_ = 0;
      once_per_sweep(now_ms);
    }
  }
  // Late by more than a whole sweep (a stalled loop): every bucket was just visited; go on from
  // now instead of visiting them all again.
  if (now_ms >= sweep_due_ms_) sweep_due_ms_ = now_ms + kTickMs;
}

void HubCore::visit(Session& session, int64_t now_ms, std::array<Frame, kWireFormats>& pings) {
  session.queue().shrink();  // idle sessions give back what a burst made their queue grow to
  if (session.closing()) return;
  // Connections whose token expired (and was not refreshed) end with 1008.
  const Rights* r = session.rights.get();
  if (r && r->expires_at && wall_ms() / 1000 > r->expires_at + jwt::kLeewaySeconds) {
    session.set_closing();
    session.close(CloseCode::kPolicy, "token expired");
    return;
  }
  int64_t idle_ms = static_cast<int64_t>(options_.heartbeat_seconds) * 1000;
  if (session.format() == WireFormat::kWebSocket && probe_silent_peer(session, now_ms, idle_ms)) return;
  if (now_ms - session.last_queued_ms < idle_ms) return;
  Frame& ping = pings[static_cast<size_t>(session.format())];
  if (!ping) ping = codec::make_frame(session.format(), codec::ping(wall_ms()));
  Outbound item;
  item.frame = ping;
  if (enqueue(session, std::move(item))) metrics_.heartbeats_sent.add();
}

void HubCore::once_per_sweep(int64_t now_ms) {
  gatekeeper_.tick(now_ms);
  broker_->tick(wall_ms());
  metrics_.history_bytes.set(broker_->history_bytes());
  metrics_.channels.set(broker_->channel_count());
  // A fan-out whose last copies were never written (their sessions closed first) ends here,
  // unobserved: a minute is far past any write the hub would still make.
  constexpr int64_t kAbandonMs = 60'000;
  fanout_hit_key_ = nullptr;
  for (auto it = fanouts_.begin(); it != fanouts_.end();) {
    if (now_ms - it->second->started_ms > kAbandonMs) it = fanouts_.erase(it);
    else ++it;
  }
}

bool HubCore::probe_silent_peer(Session& session, int64_t now_ms, int64_t idle_ms) {
  int64_t silent_ms = now_ms - session.last_heard_ms;
  if (silent_ms >= 3 * idle_ms) {
    // Three heartbeats without a pong (or anything else): the link is dead.
    metrics_.heartbeat_timeouts.add();
    session.set_closing();
    session.close(CloseCode::kAbnormal, "no answer to heartbeats");
    return true;
  }
  if (silent_ms >= idle_ms && now_ms - session.last_probe_ms >= idle_ms) {
    // A protocol ping: browsers and every WebSocket stack answer it without application code.
    session.last_probe_ms = now_ms;
    Outbound item;
    item.frame = codec::websocket_ping_frame();
    int64_t queued_ms = session.last_queued_ms;  // a protocol ping does not replace {"op":"ping"}
    enqueue(session, std::move(item));
    session.last_queued_ms = queued_ms;
  }
  return false;
}

void HubCore::close_all(CloseCode code) {
  for (auto& record : sessions_) {
    Session& session = *record.session;
    if (session.closing()) continue;
    session.set_closing();
    session.close(code, "server going away");
  }
}

}  // namespace rthub
