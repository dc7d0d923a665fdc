// redis_broker_link.cpp: the two links to Redis: connect, reconnect with backoff, what is sent on
// a fresh link, and liveness pings (the once-a-second tick).
#include "broker/redis/redis_broker.hpp"

#include <hiredis/async.h>
#include <unistd.h>

#include <cstdio>

#include "broker/redis/redis_broker_internal.hpp"
#include "broker/redis/uv_attach.hpp"

namespace rthub {
namespace {

constexpr int64_t kConnectTimeoutMs = 1500;  // a connect not completed by then is retried
constexpr int kMissesBeforeReconnect = 2;    // pings unanswered at two ticks: drop the link
// The pub/sub link's first answer (its ping channel's SUBSCRIBE confirmation) missing at three
// ticks (at least two seconds after the connect): drop the link.
constexpr int kConfirmTicks = 3;
constexpr uint64_t kBackoffBaseMs = 100, kBackoffCapMs = 5000;

// One line per outage, not one per reconnect attempt: `what` happened (lost, cannot connect), why.
void report_down(RedisBroker::Link& link, const char* what, const char* why) {
  if (!link.reported_down)
    std::fprintf(stderr, "rthub: redis %s link %s (%s); reconnecting with backoff\n",
                 link.pubsub ? "pub/sub" : "command", what, why);
  link.reported_down = true;
}

}  // namespace

using namespace redis_internal;

void RedisBroker::connect(Link& link) {
  if (stopping_) return;
  // On a cluster, each attempt tries the next known node: the last one may have died.
  auto [host, port] = router_ ? link_target() : std::make_pair(address_.host, address_.port);
  redisAsyncContext* ctx = redisAsyncConnect(host.c_str(), port);
  if (!ctx || ctx->err) {
    if (ctx) redisAsyncFree(ctx);
    return schedule_reconnect(link);
  }
  if (!attach_to_loop(ctx, loop_)) {
    redisAsyncFree(ctx);
    return schedule_reconnect(link);
  }
  ctx->data = &link;
  link.ctx = ctx;
  link.connecting_since_ms = now_ms();
  redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    Link& l = *static_cast<Link*>(c->data);
    if (status != REDIS_OK) {  // hiredis frees the context after this callback
      l.ctx = nullptr;
      report_down(l, "cannot connect", c->errstr && c->errstr[0] ? c->errstr : "connection error");
      return l.owner->schedule_reconnect(l);
    }
    l.owner->on_connected(l);
  });
  redisAsyncSetDisconnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    Link& l = *static_cast<Link*>(c->data);
    l.ctx = nullptr;
    const char* why = l.drop_reason               ? l.drop_reason
                      : status == REDIS_OK        ? "closed"
                      : c->errstr && c->errstr[0] ? c->errstr
                                                  : "connection error";
    l.drop_reason = nullptr;
    l.owner->on_disconnected(l, why);
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
  if (link.reported_down)
    std::fprintf(stderr, "rthub: redis %s link connected again\n",
                 link.pubsub ? "pub/sub" : "command");
  link.reported_down = false;
  link.attempt = 0;
  link.healthy = false;
  link.answered = false;
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
    for (int i = 0; i < kScriptCount; ++i)
      send({"SCRIPT", "LOAD", script_text_[i]}, nullptr, nullptr);
    ping(link);  // healthy once answered
    // A pub/sub ping published through the previous command link may never have run: the next
    // tick pings again (a pub/sub link left unhealthy by a miss must not wait for an answer that
    // cannot come; on_timer only skips a pub/sub link still `confirming`).
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
  link.confirming = true;
  link.confirm_ticks = 0;
  send({"SUBSCRIBE", kPingPrefix + node_id_}, on_message, nullptr);
  if (!bridges_.empty()) {
    std::vector<std::string> args{"SUBSCRIBE"};
    for (auto& b : bridges_) args.push_back(b->channel);
    send(args, on_message, nullptr);
  }
  // Every channel with local subscribers again; each confirmation fills that channel's gap. (On a
  // cluster they are the sharded subscriber's, on other connections.)
  if (router_) return;
  // Redis may be another server now (a promoted replica behind the same address): each
  // channel's confirmation first checks that it still holds what this node delivered.
  for (auto& entry : tracks_) entry.second.verify = true;
  subscriptions_.reset();
  flush_subscriptions();
}

void RedisBroker::on_disconnected(Link& link, const char* why) {
  if (!stopping_) report_down(link, "lost", why);
  link.connected = false;
  link.healthy = false;
  link.confirming = false;
  if (link.pubsub) {
    if (!router_) subscriptions_.reset();
    // This node no longer sees the bridged payloads: let a node that does ingest them.
    for (auto& b : bridges_) {
      b->subscribed = false;
      b->backlog.clear();
    }
    release_leases();
  } else {
    for (auto& b : bridges_) b->holding = b->asking = false;
    presence_->liveness_unknown();
  }
  schedule_reconnect(link);
}

void RedisBroker::drop(Link& link, const char* why) {
  link.drop_reason = link.ctx ? why : nullptr;
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
  link.confirming = false;
  link.ping_waiting = false;
  link.misses = 0;
  link.healthy = true;
  link.answered = true;
}

void RedisBroker::on_timer() {
  int64_t now = now_ms();
  if (commands_->connected) presence_->tick();
  for (Link* link : {commands_.get(), pubsub_.get()}) {
    // A refused connect is reported at once (uv_attach), but one that is never answered (a host
    // gone, packets dropped) would wait for the kernel's minutes: abandoned and tried again.
    if (link->ctx && !link->connected && now - link->connecting_since_ms > kConnectTimeoutMs) {
      redisAsyncFree(link->ctx);
      link->ctx = nullptr;
      report_down(*link, "cannot connect", "no answer in time");
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
        drop(*link, "pings unanswered at two ticks");
      }
      continue;
    }
    // Waits for its ping channel's confirmation, for a bounded time: a connect accepted by a
    // Redis that then stops answering (frozen, or a host gone without a reset) must not leave
    // the node 503 for good.
    if (link->pubsub && link->confirming) {
      if (++link->confirm_ticks >= kConfirmTicks) drop(*link, "subscribe never confirmed");
      continue;
    }
    // Not waiting and not healthy (a miss whose verdict the command link's reconnect cleared):
    // pinged again, never left waiting for an answer that cannot come.
    ping(*link);
  }
  // On a cluster, fills that found their slot's master unreachable try again (once a second).
  if (router_) resume_fills();
  if (!commands_->connected) return;
  for (auto& b : bridges_) bid_for_lease(*b);
}

}  // namespace rthub
