// redis_broker.cpp: the RedisBroker as a Broker: construction, publish, history, release, stop
// and metrics. The other parts live in redis_broker_*.cpp (see redis_broker.hpp).
#include "broker/redis/redis_broker.hpp"

#include <hiredis/async.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "broker/redis/cluster/cluster_commands.hpp"
#include "broker/redis/cluster/cluster_router.hpp"
#include "broker/redis/cluster/sharded_subscriber.hpp"
#include "broker/redis/record.hpp"
#include "broker/redis/redis_broker_internal.hpp"
#include "core/epoch.hpp"

namespace rthub {
namespace {

// Every node keeps a bridged channel's payloads this long (and at most this many), several
// times the lease (redis_broker_bridge.cpp): what a taker-over needs to continue after the last
// ingested payload.
constexpr int64_t kBacklogMs = 30000;
constexpr size_t kBacklogEntries = 100000;

std::string sha1_hex(const std::string& text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

using namespace redis_internal;

RedisBroker::RedisBroker(uv_loop_t* loop, const HubOptions& options)
    : loop_(loop),
      options_(options),
      address_(options.redis_cluster.empty() ? parse_redis_url(options.redis_url) : RedisAddress{}),
      random_(std::random_device{}() ^ static_cast<uint64_t>(now_us())) {
  for (const auto& b : options_.bridge_channels) {
    if (!is_valid_channel_name(b))
      throw Error(Errc::kInvalid, "bridge channel is not a valid channel name: " + b);
    if (bridge_of(b)) continue;
    bridges_.emplace_back(new Bridge{b, BridgeBacklog(kBacklogEntries, kBacklogMs)});
  }
  for (int i = 0; i < kScriptCount; ++i) {
    script_text_.push_back(options_.redis_cluster.empty()
                               ? std::string(script_body(i))
                               : cluster::sharded_script(script_body(i)));
    script_sha_.push_back(sha1_hex(script_text_.back()));
  }
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) node_id_.push_back(kHex[random_() % 16]);
  presence_.reset(new RedisPresence(
      node_id_, !options_.redis_cluster.empty(),
      [this](std::vector<std::string> args, std::function<void(redisReply*)> on_reply) {
        command(std::move(on_reply), args);
      },
      [this](const std::string& channel, const char* op, uint64_t id, const std::string& client) {
        if (listener_) listener_->on_presence(channel, op, id, client);
      }));
  commands_.reset(new Link{this, false});
  pubsub_.reset(new Link{this, true});
  for (Link* link : {commands_.get(), pubsub_.get()}) {
    uv_timer_init(loop_, &link->retry);
    link->retry.data = link;
  }
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<RedisBroker*>(t->data)->on_timer(); }, 1000, 1000);
  flush_timer_ = new uv_timer_t;
  uv_timer_init(loop_, flush_timer_);
  flush_timer_->data = this;
  if (!options_.redis_cluster.empty()) start_cluster();
  connect(*commands_);
  connect(*pubsub_);
}

RedisBroker::~RedisBroker() {
  stop();
}

std::string RedisBroker::new_epoch() {
  return rthub::new_epoch(random_);
}

std::string RedisBroker::key(const std::string& channel, const char* part) const {
  return "rthub:{" + channel + "}:" + part;
}

std::string RedisBroker::key_lifetime() const {
  return std::to_string(std::max(86400, options_.history_ttl_seconds * 2));
}

bool RedisBroker::ready() const {
  if (!commands_->connected || !pubsub_->connected || !commands_->healthy || !pubsub_->healthy)
    return false;
  if (!cluster_ready()) return false;
  // Bridged payloads reach subscribers only once some node ingests them.
  for (const auto& b : bridges_)
    if (!b->known) return false;
  return true;
}

void RedisBroker::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  send_publish(std::move(message), std::string(), std::move(done));
}

void RedisBroker::send_publish(Message message, const std::string& bridge_hash,
                               std::function<void(const PublishOutcome&)> done) {
  int64_t started = now_us();
  if (!router_ && (!pubsub_->connected || !pubsub_->answered || !commands_->answered)) {
    // Redis went away and the command link may not have noticed yet (its close is read later),
    // or a link connected since has not answered yet (a socket of a Redis being killed can stay
    // silent for good): a publish sent there would end "unknown outcome". Not sending it makes
    // the answer definite (503), as /healthz already says. A link that answered and then stalls
    // still takes publishes (their outcome is unknown until it answers or is dropped). On a
    // cluster, publishes go through the router, which answers for its own links.
    publish_failures_.add();
    PublishOutcome outcome;
    outcome.error = BrokerError::kUnavailable;
    outcome.detail = "redis unavailable";
    if (done) done(outcome);
    return;
  }
  const std::string& channel = message.channel;
  // Whether the script left for Redis: a missing answer then leaves the outcome unknown (the
  // command may run when a frozen Redis resumes); a command never sent surely published nothing.
  auto sent = std::make_shared<bool>(false);
  std::string head = std::to_string(message.ts_ms);
  if (!message.timestamp.empty())
    head += " T" + std::to_string(message.timestamp.size()) + ":" + message.timestamp;
  if (!message.key.empty())
    head +=
        (message.deleted ? " X" : " K") + std::to_string(message.key.size()) + ":" + message.key;
  std::vector<std::string> args{key(channel, ""), new_epoch(),
                                std::move(head),  message.type,
                                message.data,     std::to_string(options_.history_size),
                                key_lifetime()};
  // The optional arguments are positional: those before a given one are padded with ''.
  bool idempotent = !message.idempotency_key.empty() && options_.idempotency_window_seconds > 0;
  bool bridged = !bridge_hash.empty(), keyed = !message.key.empty();
  if (idempotent || bridged || keyed) {
    args.push_back(idempotent ? message.idempotency_key : "");
    args.push_back(idempotent ? std::to_string(options_.idempotency_window_seconds) : "");
  }
  if (bridged || keyed) {
    args.push_back(bridged ? node_id_ : "");
    args.push_back(bridge_hash);
  }
  if (keyed) {
    args.push_back(message.key);
    args.push_back(message.deleted ? "1" : "0");
    args.push_back(std::to_string(options_.max_keys));
  }
  eval(
      Script::kPublish, std::move(args),
      [this, started, sent, done = std::move(done)](redisReply* r) {
        PublishOutcome outcome;
        if (!r && *sent) {
          publish_failures_.add();
          outcome.error = BrokerError::kUnknownOutcome;
          outcome.detail = "no answer from redis in time";
        } else if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->elements > 3) {
          // Not sent, or refused before the script ran (an error reply: BUSY, OOM, READONLY...).
          publish_failures_.add();
          outcome.error = BrokerError::kUnavailable;
          outcome.detail =
              r && r->type == REDIS_REPLY_ERROR ? "redis: " + reply_string(r) : "redis unavailable";
        } else if (r->elements == 3 && r->element[2]->integer == 2) {
          // A bridged payload from a node that lost the ingest lease: the holder ingests it.
          outcome.error = BrokerError::kUnavailable;
          outcome.detail = kNotLeaseHolder;
        } else if (r->elements == 3 && r->element[2]->integer == 3) {
          outcome.error = BrokerError::kTooManyKeys;
          outcome.detail =
              "channel has " + std::to_string(options_.max_keys) + " keys already (max keys)";
        } else {
          // 3 elements: a repeat of an idempotency key, not published
          if (r->elements == 2) messages_out_.add();
          publish_rtt_.observe_us(now_us() - started);
          outcome.position.epoch = reply_string(r->element[0]);
          outcome.position.seq = static_cast<uint64_t>(
              std::strtoull(reply_string(r->element[1]).c_str(), nullptr, 10));
        }
        if (done) done(outcome);
      },
      sent);
}

void RedisBroker::history(const std::string& channel, const std::optional<Position>& since,
                          std::function<void(HistoryOutcome&)> done) {
  read(channel, since, false, std::move(done));
}

void RedisBroker::history_with_snapshot(const std::string& channel,
                                        const std::optional<Position>& since,
                                        std::function<void(HistoryOutcome&)> done) {
  read(channel, since, true, std::move(done));
}

void RedisBroker::read(const std::string& channel, const std::optional<Position>& since,
                       bool snapshot, std::function<void(HistoryOutcome&)> done) {
  if (subscriptions_.want(channel)) schedule_flush();
  // A channel this node already follows in Redis, with no gap being filled, is known up to the
  // last message delivered: a subscribe without `since` costs Redis nothing (what is published
  // later arrives in order after that position).
  auto known = tracks_.find(channel);
  if (!since && !snapshot && known != tracks_.end() && !known->second.epoch.empty() &&
      !known->second.fetching && subscriptions_.active(channel) && ready()) {
    HistoryOutcome outcome;
    outcome.latest.epoch = known->second.epoch;
    outcome.latest.seq = known->second.seq;
    return done(outcome);
  }
  if (subscriptions_.wanted(channel)) {
    Track& track = tracks_[channel];
    if (track.epoch.empty()) track.reads++;
  }
  uint64_t first = since ? since->seq + 1 : 0;
  eval(Script::kRead,
       {key(channel, ""), new_epoch(), std::to_string(first), key_lifetime(),
        std::to_string(options_.history_size + 1), snapshot ? "1" : "0"},
       [this, channel, since, snapshot, done = std::move(done)](redisReply* r) {
         HistoryOutcome outcome;
         if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != (snapshot ? 4u : 3u)) {
           settle_read(channel, nullptr);
           outcome.error = BrokerError::kUnavailable;
           return done(outcome);
         }
         // Recovered or not, the snapshot is known now; it goes out only when not recovered.
         auto answer = [&] {
           if (snapshot && !outcome.recovered) {
             outcome.messages.clear();
             outcome.has_snapshot = true;
             outcome.snapshot = snapshot_items(channel, outcome.latest.epoch, r->element[3]);
           }
           done(outcome);
         };
         outcome.latest.epoch = reply_string(r->element[0]);
         outcome.latest.seq = std::strtoull(reply_string(r->element[1]).c_str(), nullptr, 10);
         settle_read(channel, &outcome.latest);
         if (!since || since->epoch != outcome.latest.epoch || since->seq > outcome.latest.seq)
           return answer();
         // Exact only when the stream still holds every seq after `since`, young enough.
         int64_t oldest_ms =
             wall_now_ms() - static_cast<int64_t>(options_.history_ttl_seconds) * 1000;
         uint64_t expect = since->seq + 1;
         const redisReply* entries = r->element[2];
         for (size_t i = 0; entries && i < entries->elements; ++i) {
           const redisReply* entry = entries->element[i];
           if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
               entry->element[1]->elements != 2)
             break;
           auto m = redis_record::decode(channel, reply_string(entry->element[1]->element[1]));
           if (!m || m->position.seq != expect || m->ts_ms < oldest_ms) break;
           auto envelope = std::make_shared<Envelope>();
           envelope->published_us = now_us() - (wall_now_ms() - m->ts_ms) * 1000;
           envelope->message = std::move(*m);
           outcome.messages.push_back(std::move(envelope));
           expect++;
         }
         outcome.recovered = expect == outcome.latest.seq + 1;
         if (!outcome.recovered) outcome.messages.clear();
         answer();
       });
}

void RedisBroker::settle_read(const std::string& channel, const Position* latest) {
  auto it = tracks_.find(channel);
  if (it == tracks_.end() || !subscriptions_.wanted(channel)) return;
  Track& track = it->second;
  if (track.reads > 0) track.reads--;
  if (!track.epoch.empty()) return;
  if (latest) {
    // The channel's position from now on is the read's. What was published after the read and
    // before the SUBSCRIBE took effect is in the stream: fill it, with the messages that waited.
    track.epoch = latest->epoch;
    track.seq = latest->seq;
    if (!track.waiting.empty() || subscriptions_.active(channel)) fetch_gap(channel, track.seq + 1);
    return;
  }
  if (track.reads > 0 || track.fetching) return;
  // No read gave a position: the messages that waited for one go on as they came.
  std::deque<Message> waiting;
  waiting.swap(track.waiting);
  for (auto& m : waiting) {
    if (track.fetching) {
      track.waiting.push_back(std::move(m));
    } else {
      accept(channel, track, std::move(m));
    }
  }
}

std::vector<EnvelopePtr> RedisBroker::snapshot_items(const std::string& channel,
                                                     const std::string& epoch,
                                                     const redisReply* records) {
  std::vector<EnvelopePtr> items;
  for (size_t i = 0; records && records->type == REDIS_REPLY_ARRAY && i < records->elements; ++i) {
    auto m = redis_record::decode(channel, reply_string(records->element[i]));
    // The read script empties the keys when it starts an epoch: a record of another epoch or
    // one that does not read is not state of this numbering.
    if (!m || m->key.empty() || m->deleted || m->position.epoch != epoch) continue;
    auto envelope = std::make_shared<Envelope>();
    envelope->message = std::move(*m);
    items.push_back(std::move(envelope));
  }
  std::sort(items.begin(), items.end(), [](const EnvelopePtr& a, const EnvelopePtr& b) {
    return a->message.position.seq < b->message.position.seq;
  });
  return items;
}

void RedisBroker::release(const std::string& channel) {
  tracks_.erase(channel);
  if (subscriptions_.unwant(channel)) schedule_flush();
}

void RedisBroker::stop() {
  if (stopping_) return;
  stopping_ = true;
  for (Link* link : {commands_.get(), pubsub_.get()}) {
    uv_timer_stop(&link->retry);
    uv_close(reinterpret_cast<uv_handle_t*>(&link->retry), nullptr);
    if (link->ctx) redisAsyncFree(link->ctx);  // pending callbacks run with no reply
    link->ctx = nullptr;
    link->connected = false;
  }
  stop_cluster();
  for (uv_timer_t* t : {timer_, flush_timer_}) {
    uv_timer_stop(t);
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
}

void RedisBroker::render_metrics(std::string& out) const {
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  line("rthub_broker_up", "gauge",
       "1 while the Redis broker is connected, answers its pings and knows each bridged channel's "
       "ingester.",
       ready() ? 1 : 0);
  line("rthub_broker_reconnects_total", "counter", "Reconnection attempts to Redis.",
       reconnects_.get());
  line("rthub_broker_messages_out_total", "counter", "Messages published into Redis by this node.",
       messages_out_.get());
  line("rthub_broker_messages_in_total", "counter",
       "Messages this node received from Redis pub/sub (only channels it has subscribers of).",
       messages_in_.get());
  line("rthub_broker_subscribed_channels", "gauge",
       "Hub channels this node is subscribed to in Redis.", subscriptions_.active_count());
  line("rthub_broker_subscribe_commands_total", "counter",
       "SUBSCRIBE/UNSUBSCRIBE commands sent (each carries up to 1000 channels).",
       subscribe_commands_.get());
  line("rthub_broker_publish_failures_total", "counter",
       "Publishes refused because Redis was unavailable.", publish_failures_.get());
  line("rthub_broker_bridged_total", "counter",
       "Plain PUBLISH payloads ingested by this node (lease holder).", bridged_in_.get());
  line("rthub_broker_bridged_refused_total", "counter",
       "Bridged payloads refused: a new key past max keys.", bridged_refused_.get());
  line("rthub_broker_gap_fills_total", "counter",
       "Messages recovered from streams after a pub/sub gap.", gaps_filled_.get());
  line("rthub_broker_histories_broken_total", "counter",
       "Channels whose history Redis no longer held after a failover: a new epoch began.",
       histories_broken_.get());
  out +=
      "# HELP rthub_broker_publish_seconds Round trip of the publish script to Redis.\n"
      "# TYPE rthub_broker_publish_seconds histogram\n";
  publish_rtt_.render(out, "rthub_broker_publish_seconds");
  render_cluster_metrics(out);
}

}  // namespace rthub
