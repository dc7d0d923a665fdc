#include "broker/redis/redis_broker.hpp"

#include "core/epoch.hpp"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <unistd.h>

#include <chrono>
#include <cstring>

#include "broker/redis/record.hpp"
#include "broker/redis/scripts.hpp"
#include "core/json_scan.hpp"

namespace rthub {
namespace {

constexpr const char* kMessagePrefix = "rthub:m:";  // pub/sub channel of sequenced messages
constexpr const char* kLeaseKey = "rthub:bridge:lease";
constexpr int kLeaseMs = 5000;               // renewed every second
constexpr int64_t kLeaseMarginMs = 1500;     // stop ingesting this long before it lapses
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
  for (const auto& b : options_.bridge_channels)
    if (!is_valid_channel_name(b))
      throw Error(Errc::kInvalid, "bridge channel is not a valid channel name: " + b);
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

bool RedisBroker::ready() const {
  return commands_->connected && pubsub_->connected && commands_->healthy && pubsub_->healthy;
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
    ping(link);  // healthy once answered
    // A pub/sub ping published through the previous command link may never have run.
    pubsub_->ping_waiting = false;
    pubsub_->misses = 0;
    // Gap fills that waited for this link go on now (queued after AUTH and SELECT).
    return resume_fills();
  }
  auto on_message = [](redisAsyncContext* c, void* reply, void*) {
    if (reply) static_cast<Link*>(c->data)->owner->on_pubsub(static_cast<redisReply*>(reply));
  };
  // The ping channel's subscribe confirmation is this link's first answer: healthy from then.
  send({"SUBSCRIBE", kPingPrefix + node_id_}, on_message, nullptr);
  send({"PSUBSCRIBE", std::string(kMessagePrefix) + "*"}, on_message, nullptr);
  for (const auto& b : options_.bridge_channels) send({"SUBSCRIBE", b}, on_message, nullptr);
  // Messages published while this node was away are in the streams: fill every channel's gap.
  for (auto& [channel, track] : tracks_)
    if (!track.fetching && !track.epoch.empty()) fetch_gap(channel, track.seq + 1);
}

void RedisBroker::on_disconnected(Link& link) {
  link.connected = false;
  link.healthy = false;
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
                            const std::vector<std::string>& args) {
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
  return 1;
}

void RedisBroker::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  int64_t started = now_us();
  std::string channel = message.channel;
  // History is kept for a day past its age bound so that the numbering survives idle hours.
  std::string lifetime = std::to_string(std::max(86400, options_.history_ttl_seconds * 2));
  // Whether the script left for Redis: a missing answer then leaves the outcome unknown (the
  // command may run when a frozen Redis resumes); a command never sent surely published nothing.
  auto sent = std::make_shared<bool>(false);
  std::vector<std::string> args{"EVAL",
                                redis_scripts::kPublish,
                                "3",
                                key(channel, "seq"),
                                key(channel, "epoch"),
                                key(channel, "log"),
                                new_epoch(),
                                std::to_string(message.ts_ms),
                                message.type,
                                message.data,
                                std::to_string(options_.history_size),
                                lifetime,
                                kMessagePrefix + channel};
  if (!message.idempotency_key.empty() && options_.idempotency_window_seconds > 0) {
    args[2] = "4";
    args.insert(args.begin() + 6, key(channel, "idem:") + message.idempotency_key);
    args.push_back(std::to_string(options_.idempotency_window_seconds));
  }
  size_t queued = command(
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
        } else {
          if (r->elements == 2)
            messages_out_.add();  // 3: a repeat of an idempotency key, not published
          publish_rtt_.observe_us(now_us() - started);
          outcome.position.epoch = reply_string(r->element[0]);
          outcome.position.seq = static_cast<uint64_t>(
              std::strtoull(reply_string(r->element[1]).c_str(), nullptr, 10));
        }
        if (done) done(outcome);
      },
      args);
  *sent = queued != 0;
}

void RedisBroker::history(const std::string& channel, const std::optional<Position>& since,
                          std::function<void(HistoryOutcome&)> done) {
  uint64_t first = since ? since->seq + 1 : 0;
  std::string lifetime = std::to_string(std::max(86400, options_.history_ttl_seconds * 2));
  command(
      [this, channel, since, done = std::move(done)](redisReply* r) {
        HistoryOutcome outcome;
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
          outcome.error = BrokerError::kUnavailable;
          return done(outcome);
        }
        outcome.latest.epoch = reply_string(r->element[0]);
        outcome.latest.seq = std::strtoull(reply_string(r->element[1]).c_str(), nullptr, 10);
        Track& track = tracks_[channel];
        if (track.epoch.empty()) {
          track.epoch = outcome.latest.epoch;
          track.seq = outcome.latest.seq;
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
      },
      {"EVAL", redis_scripts::kRead, "3", key(channel, "seq"), key(channel, "epoch"),
       key(channel, "log"), new_epoch(), std::to_string(first), lifetime,
       std::to_string(options_.history_size + 1)});
}

void RedisBroker::on_pubsub(redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY) return;
  std::string kind = r->elements ? reply_string(r->element[0]) : std::string();
  if (kind == "pmessage" && r->elements == 4) {
    std::string name = reply_string(r->element[2]);
    if (name.compare(0, std::strlen(kMessagePrefix), kMessagePrefix) != 0) return;
    std::string channel = name.substr(std::strlen(kMessagePrefix));
    auto m = redis_record::decode(channel, reply_string(r->element[3]));
    if (!m) return;
    messages_in_.add();
    on_record(channel, std::move(*m));
  } else if (kind == "subscribe" && r->elements == 3 &&
             reply_string(r->element[1]) == kPingPrefix + node_id_) {
    on_pong(*pubsub_);
  } else if (kind == "message" && r->elements == 3 &&
             reply_string(r->element[1]) == kPingPrefix + node_id_) {
    uint64_t n = std::strtoull(reply_string(r->element[2]).c_str(), nullptr, 10);
    if (n >= pubsub_->ping_awaited) on_pong(*pubsub_);
  } else if (kind == "message" && r->elements == 3) {
    ingest_bridged(reply_string(r->element[1]), reply_string(r->element[2]));
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
  if (!commands_->connected) {
    // The stream is out of reach, not the messages: wait for the link (resume_fills).
    track.fill_pending = true;
    return;
  }
  command(
      [this, channel](redisReply* r) {
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
          if (m && m->position.epoch == t.epoch && m->position.seq == t.seq + 1) {
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

void RedisBroker::ingest_bridged(const std::string& channel, const std::string& payload) {
  if (now_ms() >= lease_until_ms_) return;  // another node holds the ingest lease
  Message m;
  m.channel = channel;
  m.ts_ms = wall_now_ms();
  // {"type":..,"data":..} from existing backends keeps its type and data; anything else is data.
  json::Scan scan = json::scan_requests(payload, false);
  if (scan.ok && scan.items.front().has_type && scan.items.front().data.present() &&
      scan.items.front().error.empty()) {
    m.type = scan.items.front().type;
    m.data.assign(scan.items.front().data.in(payload));
  } else if (json::is_valid_json(payload)) {
    m.data = payload;
  } else {
    json::append_string(m.data, payload);
  }
  bridged_in_.add();
  publish(std::move(m), nullptr);
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
  if (options_.bridge_channels.empty()) return;
  int64_t asked = now;
  command(
      [this, asked](redisReply* r) {
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
          lease_until_ms_ = asked + kLeaseMs - kLeaseMarginMs;
        else
          lease_until_ms_ = 0;
      },
      {"EVAL", redis_scripts::kLease, "1", kLeaseKey, node_id_, std::to_string(kLeaseMs)});
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
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void RedisBroker::render_metrics(std::string& out) const {
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
           name + " " + std::to_string(v) + "\n";
  };
  line("rthub_broker_up", "gauge", "1 while the Redis broker is connected.", ready() ? 1 : 0);
  line("rthub_broker_reconnects_total", "counter", "Reconnection attempts to Redis.",
       reconnects_.get());
  line("rthub_broker_messages_out_total", "counter", "Messages published into Redis by this node.",
       messages_out_.get());
  line("rthub_broker_messages_in_total", "counter", "Messages received from Redis pub/sub.",
       messages_in_.get());
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
