// redis_broker_gap_fill.cpp: in-order delivery of a channel's records, and gap fills from the
// channel's stream (after a lost message, a subscription taking effect, a link loss).
#include "broker/redis/redis_broker.hpp"

#include <utility>

#include "broker/redis/record.hpp"
#include "broker/redis/redis_broker_internal.hpp"

namespace rthub {

using namespace redis_internal;

void RedisBroker::on_record(const std::string& channel, Message message) {
  if (!listener_ || !listener_->has_subscribers(channel)) {
    tracks_.erase(channel);
    return;
  }
  Track& track = tracks_[channel];
  if (track.fetching || (track.epoch.empty() && track.reads > 0))
    return track.waiting.push_back(std::move(message));
  accept(channel, track, std::move(message));
}

void RedisBroker::accept(const std::string& channel, Track& track, Message message) {
  const Position& p = message.position;
  bool new_epoch = !track.epoch.empty() && track.epoch != p.epoch;
  if (track.epoch.empty() || (new_epoch && p.seq == 1) || p.seq == track.seq + 1) {
    track.epoch = p.epoch;
    track.seq = p.seq;
    return deliver(track, std::move(message));
  }
  if (!new_epoch && p.seq <= track.seq) return;  // seen already
  // A gap: what is missing is in the stream; this message waits until it is filled. A new epoch
  // (a flushed Redis, a failover that lost writes) is read from its first message: the pub/sub
  // link may have missed some of it while it moved.
  track.waiting.push_front(std::move(message));
  fetch_gap(channel, new_epoch ? 1 : track.seq + 1);
}

void RedisBroker::fetch_gap(const std::string& channel, uint64_t from) {
  Track& track = tracks_[channel];
  track.fetching = true;
  track.fill_pending = false;
  track.fill_again = false;
  if (!router_ && !commands_->connected) {
    // The stream is out of reach, not the messages: wait for the link (resume_fills).
    track.fill_pending = true;
    return;
  }
  if (track.verify && !track.epoch.empty() && track.seq > 0) return verify_history(channel, from);
  track.verify = false;
  command(
      [this, channel, from](redisReply* r) {
        auto it = tracks_.find(channel);
        if (it == tracks_.end()) return;
        Track& t = it->second;
        if (!r) {
          // No answer (the link went down meanwhile): try again once it is back; what arrives
          // meanwhile keeps waiting, in order.
          t.fill_pending = true;
          return;
        }
        t.fetching = false;
        for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
          const redisReply* entry = r->element[i];
          if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
              entry->element[1]->elements != 2)
            continue;
          auto m = redis_record::decode(channel, reply_string(entry->element[1]->element[1]));
          if (!m) continue;
          if (m->position.epoch != t.epoch) {
            // Redis lost the channel's numbering (a restart, expiry) and a new epoch began (a
            // stream holds one epoch). Its messages are delivered from its first one (the hub
            // tells subscribers that history was lost); read from seq 1 to find that one.
            if (m->position.seq != 1 && from != 1) return fetch_gap(channel, 1);
            t.epoch = m->position.epoch;
            t.seq = m->position.seq - 1;
          }
          if (m->position.seq == t.seq + 1) {
            gaps_filled_.add();
            t.seq = m->position.seq;
            deliver(t, std::move(*m));
          }
        }
        // What arrived meanwhile goes on in order. If the stream no longer holds the gap (trimmed,
        // expired, a new epoch), the next message is delivered anyway: the hub tells its
        // subscribers they missed some. Only an answer from Redis can say so.
        std::deque<Message> waiting;
        waiting.swap(t.waiting);
        for (auto& m : waiting) {
          if (m.position.epoch == t.epoch && m.position.seq <= t.seq) continue;
          t.epoch = m.position.epoch;
          t.seq = m.position.seq;
          deliver(t, std::move(m));
        }
        if (t.fill_again) fetch_gap(channel, t.seq + 1);
      },
      {"XRANGE", key(channel, "log"), std::to_string(from) + "-1", "+", "COUNT",
       std::to_string(options_.history_size + 1)});
}

void RedisBroker::verify_history(const std::string& channel, uint64_t from) {
  Track& track = tracks_[channel];
  track.verify = false;
  eval(Script::kVerify,
       {key(channel, ""), track.epoch, std::to_string(track.seq),
        track.ts_ms > 0 ? std::to_string(track.ts_ms) : "", new_epoch(), key_lifetime()},
       [this, channel, from](redisReply* r) {
         auto it = tracks_.find(channel);
         if (it == tracks_.end()) return;
         if (!r) {
           // No answer (the link went down): check once it is back, before the fill.
           it->second.verify = true;
           it->second.fill_pending = true;
           return;
         }
         if (r->type == REDIS_REPLY_ERROR) {
           // Refused (READONLY from a replica not promoted yet, BUSY...): the fill goes on
           // unchecked, so delivery does not stall; the channel's next fill checks again.
           fetch_gap(channel, from);
           auto again = tracks_.find(channel);
           if (again != tracks_.end()) again->second.verify = true;
           return;
         }
         // A new epoch begun here reaches every node as its messages come: their different
         // epoch tells subscribers that history broke (recovered:false), as for a flushed Redis.
         if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) histories_broken_.add();
         fetch_gap(channel, from);
       });
}

void RedisBroker::resume_fills() {
  std::vector<std::pair<std::string, uint64_t>> due;
  for (auto& [channel, track] : tracks_)
    if (track.fill_pending) due.emplace_back(channel, track.seq + 1);
  for (auto& [channel, from] : due) fetch_gap(channel, from);
}

void RedisBroker::deliver(Track& track, Message message) {
  track.ts_ms = message.ts_ms;  // the message at track.seq: its identity for verify_history
  auto envelope = std::make_shared<Envelope>();
  envelope->published_us = now_us() - (wall_now_ms() - message.ts_ms) * 1000;
  envelope->message = std::move(message);
  if (listener_) listener_->on_broker_message(envelope);
}

}  // namespace rthub
