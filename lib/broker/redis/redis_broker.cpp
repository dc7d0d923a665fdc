#include "broker/redis/redis_broker.hpp"

#include "core/epoch.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <unistd.h>

#include <openssl/sha.h>

#include <chrono>
#include <cstring>

#include "broker/redis/record.hpp"
#include "broker/redis/scripts.hpp"
#include "core/json_scan.hpp"

namespace rthub {
namespace {

constexpr int kLeaseMs = 5000;  // a bridged channel's ingest lease, renewed every second
// Every node keeps a bridged channel's payloads this long (and at most this many), several
// times the lease: what a taker-over needs to continue after the last ingested payload.
constexpr int64_t kBacklogMs = 30000;
constexpr size_t kBacklogEntries = 100000;
constexpr size_t kChannelsPerCommand = 1000;  // SUBSCRIBE/UNSUBSCRIBE arguments per command
constexpr uint64_t kFlushDelayMs = 2;  // subscription changes wait this long to share a command
constexpr const char* kNotLeaseHolder = "not the ingest lease holder";
constexpr int64_t kConnectTimeoutMs = 1500;  // a connect not completed by then is retried
constexpr int kMissesBeforeReconnect = 2;    // pings unanswered at two ticks: drop the link
constexpr const char* kPingPrefix =
    "rthub:ping:";  // + node id: the pub/sub link's own ping channel
constexpr uint64_t kBackoffBaseMs = 100, kBackoffCapMs = 5000;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sha1_hex(const char* text) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text), std::strlen(text), digest);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

const char* script_body(int index) {
  static const char* const kBodies[] = {redis_scripts::kPublish, redis_scripts::kRead,
                                        redis_scripts::kLease};
  return kBodies[index];
}

// "rthub:{<channel>}:m" -> channel; empty for any other name.
std::string channel_of_record_channel(const std::string& name) {
  static const std::string kHead = "rthub:{", kTail = "}:m";
  if (name.size() <= kHead.size() + kTail.size() || name.compare(0, kHead.size(), kHead) != 0 ||
      name.compare(name.size() - kTail.size(), kTail.size(), kTail) != 0)
    return {};
  return name.substr(kHead.size(), name.size() - kHead.size() - kTail.size());
}

std::string reply_string(const redisReply* r) {
  if (!r) return {};
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_ERROR)
    return std::string(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return {};
}

}  // namespace

struct RedisBroker::Link {
  RedisBroker* owner;
  bool pubsub;
  redisAsyncContext* ctx = nullptr;
  bool connected = false;
  int64_t connecting_since_ms = 0;
  int attempt = 0;
  uv_timer_t retry{};
  // Liveness: `healthy` once the link answered since it connected, and while no ping is missed.
  bool healthy = false;
  bool ping_waiting = false;
  int misses = 0;
  uint64_t ping_awaited = 0;  // pub/sub link: the ping counter that answers
};

RedisBroker::RedisBroker(uv_loop_t* loop, const HubOptions& options)
    : loop_(loop),
      options_(options),
      address_(parse_redis_url(options.redis_url)),
      random_(std::random_device{}() ^ static_cast<uint64_t>(now_us())) {
  for (const auto& b : options_.bridge_channels) {
    if (!is_valid_channel_name(b))
      throw Error(Errc::kInvalid, "bridge channel is not a valid channel name: " + b);
    if (bridge_of(b)) continue;
    bridges_.emplace_back(new Bridge{b, BridgeBacklog(kBacklogEntries, kBacklogMs)});
  }
  for (int i = 0; i < 3; ++i) script_sha_.push_back(sha1_hex(script_body(i)));
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) node_id_.push_back(kHex[random_() % 16]);
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

RedisBroker::Bridge* RedisBroker::bridge_of(const std::string& name) {
  for (auto& b : bridges_)
    if (b->channel == name) return b.get();
  return nullptr;
}

bool RedisBroker::ready() const {
  if (!commands_->connected || !pubsub_->connected || !commands_->healthy || !pubsub_->healthy)
    return false;
  // Bridged payloads reach subscribers only once some node ingests them.
  for (const auto& b : bridges_)
    if (!b->known) return false;
  return true;
}

void RedisBroker::connect(Link& link) {
  if (stopping_) return;
  redisAsyncContext* ctx = redisAsyncConnect(address_.host.c_str(), address_.port);
  if (!ctx || ctx->err) {
    if (ctx) redisAsyncFree(ctx);
    return schedule_reconnect(link);
  }
  ctx->data = &link;
  link.ctx = ctx;
  link.connecting_since_ms = now_ms();
  redisLibuvAttach(ctx, loop_);
  redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    Link& l = *static_cast<Link*>(c->data);
    if (status != REDIS_OK) {  // hiredis frees the context after this callback
      l.ctx = nullptr;
      return l.owner->schedule_reconnect(l);
    }
    l.owner->on_connected(l);
  });
  redisAsyncSetDisconnectCallback(ctx, [](const redisAsyncContext* c, int) {
    Link& l = *static_cast<Link*>(c->data);
    l.ctx = nullptr;
    l.owner->on_disconnected(l);
  });
}

void RedisBroker::schedule_reconnect(Link& link) {
  if (stopping_) return;
  // Exponential backoff with full jitter, so that nodes do not come back in lockstep.
  uint64_t ceiling =
      std::min<uint64_t>(kBackoffCapMs, kBackoffBaseMs << std::min(link.attempt, 10));
  uint64_t delay = random_() % (ceiling + 1);
  link.attempt++;
  uv_timer_start(
      &link.retry,
      [](uv_timer_t* t) {
        Link& l = *static_cast<Link*>(t->data);
        l.owner->reconnects_.add();
        l.owner->connect(l);
      },
      delay, 0);
}

void RedisBroker::on_connected(Link& link) {
  link.attempt = 0;
  link.healthy = false;
  link.ping_waiting = false;
  link.misses = 0;
  auto send = [&](std::vector<std::string> args, redisCallbackFn* fn, void* privdata) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAsyncCommandArgv(link.ctx, fn, privdata, static_cast<int>(argv.size()), argv.data(),
                          lens.data());
  };
  if (!address_.password.empty()) {
    if (address_.user.empty())
      send({"AUTH", address_.password}, nullptr, nullptr);
    else
      send({"AUTH", address_.user, address_.password}, nullptr, nullptr);
  }
  if (address_.db) send({"SELECT", std::to_string(address_.db)}, nullptr, nullptr);
  // Named for CLIENT LIST / CLIENT KILL: which process, which link.
  send({"CLIENT", "SETNAME",
        "rthub-" + std::to_string(getpid()) + (link.pubsub ? "-pubsub" : "-commands")},
       nullptr, nullptr);
  link.connected = true;
  if (!link.pubsub) {
    // Loaded before anything else runs on this link, so EVALSHA finds them (NOSCRIPT, after a
    // SCRIPT FLUSH or on a promoted replica, falls back to EVAL once).
    for (int i = 0; i < 3; ++i) send({"SCRIPT", "LOAD", script_body(i)}, nullptr, nullptr);
    ping(link);  // healthy once answered
    // A pub/sub ping published through the previous command link may never have run.
    pubsub_->ping_waiting = false;
    pubsub_->misses = 0;
    // Whether in-flight ingests ran is unknown: each bridge catches up from what Redis recorded.
    for (auto& b : bridges_) b->holding = b->asking = false;
    for (auto& b : bridges_) bid_for_lease(*b);
    // Gap fills that waited for this link go on now.
    return resume_fills();
  }
  // The pubsub link counts as connected (ready(), /healthz) only once Redis confirms the
  // PSUBSCRIBE (on_pubsub): until then, a message published through the command link could reach
  // Redis first and never come to this node, although /healthz already said 200.
  auto on_message = [](redisAsyncContext* c, void* reply, void*) {
    if (reply) static_cast<Link*>(c->data)->owner->on_pubsub(static_cast<redisReply*>(reply));
  };
  // The ping channel's subscribe confirmation is this link's first answer: healthy from then.
  send({"SUBSCRIBE", kPingPrefix + node_id_}, on_message, nullptr);
  if (!bridges_.empty()) {
    std::vector<std::string> args{"SUBSCRIBE"};
    for (auto& b : bridges_) args.push_back(b->channel);
    send(args, on_message, nullptr);
  }
  // Every channel with local subscribers again; each confirmation fills that channel's gap.
  subscriptions_.reset();
  flush_subscriptions();
}

void RedisBroker::on_disconnected(Link& link) {
  link.connected = false;
  link.healthy = false;
  if (link.pubsub) {
    subscriptions_.reset();
    // This node no longer sees the bridged payloads: let a node that does ingest them.
    for (auto& b : bridges_) {
      b->subscribed = false;
      b->backlog.clear();
    }
    release_leases();
  } else {
    for (auto& b : bridges_) b->holding = b->asking = false;
  }
  schedule_reconnect(link);
}

void RedisBroker::drop(Link& link) {
  // Marked down first: the callbacks that redisAsyncFree runs (with no reply) must see the link
  // down and not queue more commands on it. The disconnect callback schedules the reconnect.
  link.connected = false;
  link.healthy = false;
  if (link.ctx)
    redisAsyncFree(link.ctx);
  else
    schedule_reconnect(link);
}

void RedisBroker::ping(Link& link) {
  link.ping_waiting = true;
  if (!link.pubsub) {
    command(
        [this](redisReply* r) {
          if (r && r->type != REDIS_REPLY_ERROR) on_pong(*commands_);
        },
        {"PING"});
    return;
  }
  // The pub/sub link cannot take a PING with hiredis 0.14 (a subscribed context hands the reply
  // to the wrong callback): the command link publishes on this node's ping channel instead, and
  // its arrival on the pub/sub link is the answer.
  link.ping_awaited = ++pings_;
  if (!command([](redisReply*) {},
               {"PUBLISH", kPingPrefix + node_id_, std::to_string(link.ping_awaited)}))
    link.ping_waiting = false;  // not sent: no verdict either way
}

void RedisBroker::on_pong(Link& link) {
  link.ping_waiting = false;
  link.misses = 0;
  link.healthy = true;
}

size_t RedisBroker::command(std::function<void(redisReply*)> on_reply,
                            const std::vector<std::string>& args, bool* sent) {
  if (!commands_->connected || !commands_->ctx) {
    on_reply(nullptr);
    return 0;
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* callback = new std::function<void(redisReply*)>(std::move(on_reply));
  int rc = redisAsyncCommandArgv(
      commands_->ctx,
      [](redisAsyncContext* c, void* reply, void* privdata) {
        (void)c;
        std::unique_ptr<std::function<void(redisReply*)>> fn(
            static_cast<std::function<void(redisReply*)>*>(privdata));
        (*fn)(static_cast<redisReply*>(reply));
      },
      callback, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (rc != REDIS_OK) {
    std::unique_ptr<std::function<void(redisReply*)>> fn(callback);
    (*fn)(nullptr);
    return 0;
  }
  if (sent) *sent = true;
  return 1;
}

void RedisBroker::eval(Script script, std::vector<std::string> keys_and_args,
                       std::function<void(redisReply*)> on_reply, std::shared_ptr<bool> sent) {
  int index = static_cast<int>(script);
  std::vector<std::string> args{"EVALSHA", script_sha_[index], "1"};
  args.insert(args.end(), keys_and_args.begin(), keys_and_args.end());
  auto retry = [this, index, keys_and_args = std::move(keys_and_args), on_reply,
                sent](redisReply* r) mutable {
    if (!r || r->type != REDIS_REPLY_ERROR || std::strncmp(r->str, "NOSCRIPT", 8) != 0)
      return on_reply(r);
    // Redis lost the script (SCRIPT FLUSH, a restart behind a proxy, a promoted replica): it did
    // not run. EVAL sends it once more and caches it again.
    std::vector<std::string> again{"EVAL", script_body(index), "1"};
    again.insert(again.end(), keys_and_args.begin(), keys_and_args.end());
    if (sent) *sent = false;
    command(std::move(on_reply), again, sent.get());
  };
  command(std::move(retry), args, sent.get());
}

void RedisBroker::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  send_publish(std::move(message), std::string(), std::move(done));
}

void RedisBroker::send_publish(Message message, const std::string& bridge_hash,
                               std::function<void(const PublishOutcome&)> done) {
  int64_t started = now_us();
  if (!pubsub_->connected) {
    // Redis went away and the command link may not have noticed yet (its close is read later):
    // a publish sent there would end "unknown outcome". Not sending it makes the answer definite
    // (503), as /healthz already says.
    publish_failures_.add();
    PublishOutcome outcome;
    outcome.error = BrokerError::kUnavailable;
    outcome.detail = "redis unavailable";
    if (done) done(outcome);
    return;
  }
  const std::string& channel = message.channel;
  // History is kept for a day past its age bound so that the numbering survives idle hours.
  std::string lifetime = std::to_string(std::max(86400, options_.history_ttl_seconds * 2));
  // Whether the script left for Redis: a missing answer then leaves the outcome unknown (the
  // command may run when a frozen Redis resumes); a command never sent surely published nothing.
  auto sent = std::make_shared<bool>(false);
  std::string head = std::to_string(message.ts_ms);
  if (!message.timestamp.empty())
    head += " T" + std::to_string(message.timestamp.size()) + ":" + message.timestamp;
  std::vector<std::string> args{key(channel, ""), new_epoch(),
                                std::move(head),  message.type,
                                message.data,     std::to_string(options_.history_size),
                                lifetime};
  bool keyed = !message.idempotency_key.empty() && options_.idempotency_window_seconds > 0;
  if (keyed || !bridge_hash.empty()) {
    args.push_back(keyed ? message.idempotency_key : "");
    args.push_back(keyed ? std::to_string(options_.idempotency_window_seconds) : "");
  }
  if (!bridge_hash.empty()) {
    args.push_back(node_id_);
    args.push_back(bridge_hash);
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
  if (subscriptions_.want(channel)) schedule_flush();
  // A channel this node already follows in Redis, with no gap being filled, is known up to the
  // last message delivered: a subscribe without `since` costs Redis nothing (what is published
  // later arrives in order after that position).
  auto known = tracks_.find(channel);
  if (!since && known != tracks_.end() && !known->second.epoch.empty() && !known->second.fetching &&
      subscriptions_.active(channel) && ready()) {
    HistoryOutcome outcome;
    outcome.latest.epoch = known->second.epoch;
    outcome.latest.seq = known->second.seq;
    return done(outcome);
  }
  uint64_t first = since ? since->seq + 1 : 0;
  std::string lifetime = std::to_string(std::max(86400, options_.history_ttl_seconds * 2));
  eval(Script::kRead,
       {key(channel, ""), new_epoch(), std::to_string(first), lifetime,
        std::to_string(options_.history_size + 1)},
       [this, channel, since, done = std::move(done)](redisReply* r) {
         HistoryOutcome outcome;
         if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
           outcome.error = BrokerError::kUnavailable;
           return done(outcome);
         }
         outcome.latest.epoch = reply_string(r->element[0]);
         outcome.latest.seq = std::strtoull(reply_string(r->element[1]).c_str(), nullptr, 10);
         if (subscriptions_.wanted(channel)) {
           Track& track = tracks_[channel];
           if (track.epoch.empty()) {
             track.epoch = outcome.latest.epoch;
             track.seq = outcome.latest.seq;
           }
         }
         if (!since || since->epoch != outcome.latest.epoch || since->seq > outcome.latest.seq)
           return done(outcome);
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
         done(outcome);
       });
}

void RedisBroker::release(const std::string& channel) {
  tracks_.erase(channel);
  if (subscriptions_.unwant(channel)) schedule_flush();
}

void RedisBroker::schedule_flush() {
  // Collected for kFlushDelayMs, then sent in one write: clients arriving together (their
  // requests read over several loop iterations) share a few multi-channel commands.
  if (stopping_ || uv_is_active(reinterpret_cast<uv_handle_t*>(flush_timer_))) return;
  uv_timer_start(
      flush_timer_,
      [](uv_timer_t* t) { static_cast<RedisBroker*>(t->data)->flush_subscriptions(); },
      kFlushDelayMs, 0);
}

void RedisBroker::flush_subscriptions() {
  if (!pubsub_->connected || !pubsub_->ctx || !subscriptions_.has_changes()) return;
  ChannelSubscriptions::Batch batch = subscriptions_.take_batch();
  auto on_message = [](redisAsyncContext* c, void* reply, void*) {
    if (reply) static_cast<Link*>(c->data)->owner->on_pubsub(static_cast<redisReply*>(reply));
  };
  auto send = [&](const char* verb, const std::vector<std::string>& channels) {
    for (size_t from = 0; from < channels.size(); from += kChannelsPerCommand) {
      std::vector<std::string> names{verb};
      for (size_t i = from; i < channels.size() && i < from + kChannelsPerCommand; ++i)
        names.push_back(key(channels[i], "m"));
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const auto& a : names) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      subscribe_commands_.add();
      redisAsyncCommandArgv(pubsub_->ctx, on_message, nullptr, static_cast<int>(argv.size()),
                            argv.data(), lens.data());
    }
  };
  send("SUBSCRIBE", batch.subscribe);
  send("UNSUBSCRIBE", batch.unsubscribe);
}

void RedisBroker::on_subscribed(const std::string& channel) {
  if (!subscriptions_.on_subscribed(channel)) return schedule_flush();
  // Messages flow from now on. What was published between the history read that answered the
  // client and this moment is in the stream: fill it, as a resume does.
  auto it = tracks_.find(channel);
  if (it == tracks_.end() || it->second.epoch.empty()) return;  // the history read covers it
  if (it->second.fetching) {
    it->second.fill_again = true;
    return;
  }
  fetch_gap(channel, it->second.seq + 1);
}

void RedisBroker::on_pubsub(redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  std::string kind = reply_string(r->element[0]);
  std::string name = reply_string(r->element[1]);
  if (kind == "message") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) {
      auto m = redis_record::decode(channel, reply_string(r->element[2]));
      if (!m) return;
      messages_in_.add();
      return on_record(channel, std::move(*m));
    }
    if (name == kPingPrefix + node_id_) {
      uint64_t n = std::strtoull(reply_string(r->element[2]).c_str(), nullptr, 10);
      if (n >= pubsub_->ping_awaited) on_pong(*pubsub_);
      return;
    }
    if (Bridge* b = bridge_of(name)) on_bridged(*b, reply_string(r->element[2]));
  } else if (kind == "subscribe") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) return on_subscribed(channel);
    if (name == kPingPrefix + node_id_) return on_pong(*pubsub_);
    if (Bridge* b = bridge_of(name)) {
      b->subscribed = true;
      bid_for_lease(*b);  // ready as soon as the lease's holder is known
    }
  } else if (kind == "unsubscribe") {
    std::string channel = channel_of_record_channel(name);
    if (!channel.empty()) {
      subscriptions_.on_unsubscribed(channel);
      schedule_flush();
    }
  }
}

void RedisBroker::on_record(const std::string& channel, Message message) {
  if (!listener_ || !listener_->has_subscribers(channel)) {
    tracks_.erase(channel);
    return;
  }
  Track& track = tracks_[channel];
  if (track.fetching) return track.waiting.push_back(std::move(message));
  accept(channel, track, std::move(message));
}

void RedisBroker::accept(const std::string& channel, Track& track, Message message) {
  const Position& p = message.position;
  if (track.epoch.empty() || track.epoch != p.epoch || p.seq == track.seq + 1) {
    track.epoch = p.epoch;
    track.seq = p.seq;
    return deliver(std::move(message));
  }
  if (p.seq <= track.seq) return;  // seen already
  // A gap: what is missing is in the stream; this message waits until it is filled.
  track.waiting.push_front(std::move(message));
  fetch_gap(channel, track.seq + 1);
}

void RedisBroker::fetch_gap(const std::string& channel, uint64_t from) {
  Track& track = tracks_[channel];
  track.fetching = true;
  track.fill_pending = false;
  track.fill_again = false;
  if (!commands_->connected) {
    // The stream is out of reach, not the messages: wait for the link (resume_fills).
    track.fill_pending = true;
    return;
  }
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
            deliver(std::move(*m));
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
          deliver(std::move(m));
        }
        if (t.fill_again) fetch_gap(channel, t.seq + 1);
      },
      {"XRANGE", key(channel, "log"), std::to_string(from) + "-1", "+", "COUNT",
       std::to_string(options_.history_size + 1)});
}

void RedisBroker::resume_fills() {
  std::vector<std::pair<std::string, uint64_t>> due;
  for (auto& [channel, track] : tracks_)
    if (track.fill_pending) due.emplace_back(channel, track.seq + 1);
  for (auto& [channel, from] : due) fetch_gap(channel, from);
}

void RedisBroker::deliver(Message message) {
  auto envelope = std::make_shared<Envelope>();
  envelope->published_us = now_us() - (wall_now_ms() - message.ts_ms) * 1000;
  envelope->message = std::move(message);
  if (listener_) listener_->on_broker_message(envelope);
}

void RedisBroker::on_bridged(Bridge& bridge, std::string payload) {
  bridge.backlog.add(payload, now_ms());
  if (bridge.holding) ingest(bridge, payload);
}

void RedisBroker::ingest(Bridge& bridge, const std::string& payload) {
  Message m;
  m.channel = bridge.channel;
  m.ts_ms = wall_now_ms();
  // {"type":..,"data":..} from existing backends keeps its type and data (and a "timestamp",
  // passed through); anything else is data.
  json::Scan scan = json::scan_requests(payload, false);
  if (scan.ok && scan.items.front().has_type && scan.items.front().data.present() &&
      scan.items.front().error.empty()) {
    m.type = scan.items.front().type;
    m.data.assign(scan.items.front().data.in(payload));
    if (scan.items.front().timestamp.present())
      m.timestamp.assign(scan.items.front().timestamp.in(payload));
  } else if (json::is_valid_json(payload)) {
    m.data = payload;
  } else {
    json::append_string(m.data, payload);
  }
  bridged_in_.add();
  std::string channel = bridge.channel;
  send_publish(
      std::move(m), BridgeBacklog::hash(payload), [this, channel](const PublishOutcome& outcome) {
        // Refused: another node took the lease; it continues after what this node recorded.
        if (outcome.error == BrokerError::kUnavailable && outcome.detail == kNotLeaseHolder)
          if (Bridge* b = bridge_of(channel)) b->holding = false;
      });
}

void RedisBroker::bid_for_lease(Bridge& bridge) {
  // Only a node that sees the payloads may ingest them; one bid at a time per channel.
  if (stopping_ || !bridge.subscribed || bridge.asking || !commands_->connected) return;
  bridge.asking = true;
  bool catch_up = !bridge.holding;
  std::string channel = bridge.channel;
  eval(Script::kLease, {key(channel, ""), node_id_, std::to_string(kLeaseMs), catch_up ? "1" : "0"},
       [this, channel, catch_up](redisReply* r) {
         Bridge* b = bridge_of(channel);
         if (!b) return;
         b->asking = false;
         if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1) return;
         b->known = true;
         if (r->element[0]->integer != 1) {
           b->holding = false;
           return;
         }
         if (b->holding || !catch_up || !b->subscribed) return;
         // Newly the ingester (or again, after a link loss): continue exactly after the last
         // payload some node recorded as ingested, then ingest live payloads as they come.
         std::vector<std::string> recorded;
         const redisReply* list = r->elements > 1 ? r->element[1] : nullptr;
         for (size_t i = 0; list && list->type == REDIS_REPLY_ARRAY && i < list->elements; ++i)
           recorded.push_back(reply_string(list->element[i]));
         b->holding = true;
         for (const auto& payload : b->backlog.after(recorded)) ingest(*b, payload);
       });
}

void RedisBroker::release_leases() {
  // Gives up the leases this node holds, so another node takes over at its next bid (within a
  // second) instead of when the lease lapses.
  for (auto& b : bridges_) {
    if (!b->holding) continue;
    b->holding = false;
    eval(Script::kLease, {key(b->channel, ""), node_id_, "0", "0"}, [](redisReply*) {});
  }
}

void RedisBroker::on_timer() {
  int64_t now = now_ms();
  for (Link* link : {commands_.get(), pubsub_.get()}) {
    // hiredis' libuv adapter drops poll errors, so a refused connect is never reported: a
    // connect that has not completed in time is abandoned and tried again.
    if (link->ctx && !link->connected && now - link->connecting_since_ms > kConnectTimeoutMs) {
      redisAsyncFree(link->ctx);
      link->ctx = nullptr;
      schedule_reconnect(*link);
    }
  }
  // Liveness. A ping still unanswered one tick after it left is a miss: not ready from the first
  // (ready() reads `healthy`), dropped and reconnected at the second. Redis that accepts
  // connections but answers nothing (SIGSTOP, a stalled host) is caught here; the publishes
  // waiting on a dropped link are answered "unknown outcome" by redisAsyncFree.
  for (Link* link : {commands_.get(), pubsub_.get()}) {
    if (!link->connected) continue;
    if (link->ping_waiting) {
      if (link->pubsub && !commands_->healthy) continue;  // its ping could not be sent: no verdict
      link->healthy = false;
      if (++link->misses >= kMissesBeforeReconnect) {
        link->misses = 0;
        drop(*link);
      }
      continue;
    }
    if (link->pubsub && !link->healthy) continue;  // waits for its ping channel's confirmation
    ping(*link);
  }
  if (!commands_->connected) return;
  for (auto& b : bridges_) bid_for_lease(*b);
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
  line("rthub_broker_gap_fills_total", "counter",
       "Messages recovered from streams after a pub/sub gap.", gaps_filled_.get());
  out +=
      "# HELP rthub_broker_publish_seconds Round trip of the publish script to Redis.\n"
      "# TYPE rthub_broker_publish_seconds histogram\n";
  publish_rtt_.render(out, "rthub_broker_publish_seconds");
}

}  // namespace rthub
