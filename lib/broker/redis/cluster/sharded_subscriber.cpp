#include "broker/redis/cluster/sharded_subscriber.hpp"

#include <hiredis/hiredis.h>
#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <map>
#include <vector>

#include "broker/redis/cluster/key_slot.hpp"
#include "broker/redis/cluster/redirect.hpp"

namespace rthub::cluster {
namespace {

constexpr int kTickMs = 100;        // pace of reconnects and re-subscriptions after a failure
constexpr int kQuietPingMs = 1000;  // a connection silent this long is asked for a PING

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string text_of(const redisReply* r) {
  if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS &&
             r->type != REDIS_REPLY_ERROR))
    return {};
  return std::string(r->str, r->len);
}

}  // namespace

struct ShardedSubscriber::Connection {
  ShardedSubscriber* owner;
  NodeAddress node;
  std::string name;
  redisContext* ctx = nullptr;
  uv_poll_t* poll = nullptr;
  bool connected = false;
  bool closed = false;
  int64_t connecting_since_ms = 0;
  int64_t last_read_ms = 0;                               // anything read shows the node alive
  int64_t ping_sent_ms = 0;                               // 0: no PING waiting for an answer
  std::unordered_map<std::string, int> own_unsubscribes;  // SUNSUBSCRIBEs we sent, unanswered

  void send(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
    uv_poll_start(poll, UV_READABLE | UV_WRITABLE, on_poll);
  }

  static void on_poll(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<Connection*>(handle->data);
    ShardedSubscriber* owner = self->owner;
    if (self->closed) return;
    if (status < 0) return owner->on_connection_lost(*self);
    if (!self->connected && (events & UV_WRITABLE)) {
      int error = 0;
      socklen_t size = sizeof(error);
      if (getsockopt(self->ctx->fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0)
        return owner->on_connection_lost(*self);
      self->connected = true;
      self->last_read_ms = now_ms();
    }
    if (events & UV_READABLE) {
      if (redisBufferRead(self->ctx) != REDIS_OK) return owner->on_connection_lost(*self);
      self->last_read_ms = now_ms();
      self->ping_sent_ms = 0;
      for (;;) {
        void* reply = nullptr;
        if (redisGetReplyFromReader(self->ctx, &reply) != REDIS_OK)
          return owner->on_connection_lost(*self);
        if (!reply) break;
        owner->on_push(*self, static_cast<redisReply*>(reply));
        freeReplyObject(reply);
        if (self->closed) return;  // a callback closed it
      }
    }
    if (self->connected && (events & UV_WRITABLE)) {
      int done = 0;
      if (redisBufferWrite(self->ctx, &done) != REDIS_OK) return owner->on_connection_lost(*self);
      if (done) uv_poll_start(handle, UV_READABLE, on_poll);
    }
  }
};

ShardedSubscriber::ShardedSubscriber(uv_loop_t* loop, ClusterRouter& router, RouterOptions options,
                                     OnMessage on_message, OnActive on_active)
    : loop_(loop),
      router_(router),
      options_(std::move(options)),
      on_message_(std::move(on_message)),
      on_active_(std::move(on_active)) {
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  uv_timer_start(
      timer_, [](uv_timer_t* t) { static_cast<ShardedSubscriber*>(t->data)->on_tick(); }, kTickMs,
      kTickMs);
  listener_id_ = router_.add_map_listener([this] {
    dirty_ = true;
    reconcile();
    flush_notices();
  });
}

ShardedSubscriber::~ShardedSubscriber() {
  stop();
  graveyard_.clear();
}

void ShardedSubscriber::subscribe(const std::string& name) {
  if (stopping_ || channels_.count(name)) return;
  Channel channel;
  channel.slot = key_slot(name);
  channels_.emplace(name, channel);
  dirty_ = true;
  reconcile();
  flush_notices();
}

void ShardedSubscriber::unsubscribe(const std::string& name) {
  auto found = channels_.find(name);
  if (found == channels_.end()) return;
  auto connection = connections_.find(found->second.on);
  if (connection != connections_.end()) {
    connection->second->own_unsubscribes[name]++;
    connection->second->send({"SUNSUBSCRIBE", name});
  }
  channels_.erase(found);
}

bool ShardedSubscriber::active(const std::string& name) const {
  auto found = channels_.find(name);
  return found != channels_.end() && found->second.active;
}

void ShardedSubscriber::set_active(const std::string& name, Channel& channel, bool active) {
  if (channel.active == active) return;
  channel.active = active;
  // Told after the change is complete: a listener may subscribe or unsubscribe from its callback.
  notices_.emplace_back(name, active);
}

void ShardedSubscriber::flush_notices() {
  while (!notices_.empty() && !stopping_) {
    auto notice = std::move(notices_.front());
    notices_.pop_front();
    if (on_active_) on_active_(notice.first, notice.second);
  }
}

ShardedSubscriber::Connection* ShardedSubscriber::connection_to(const NodeAddress& node) {
  std::string name = node.text();
  auto found = connections_.find(name);
  if (found != connections_.end()) return found->second.get();
  redisContext* ctx = redisConnectNonBlock(node.host.c_str(), node.port);
  if (!ctx || ctx->err) {
    if (ctx) redisFree(ctx);
    return nullptr;
  }
  auto connection = std::make_unique<Connection>();
  connection->owner = this;
  connection->node = node;
  connection->name = name;
  connection->ctx = ctx;
  connection->connecting_since_ms = now_ms();
  connection->poll = new uv_poll_t;
  if (uv_poll_init(loop_, connection->poll, ctx->fd) != 0) {
    delete connection->poll;
    redisFree(ctx);
    return nullptr;
  }
  connection->poll->data = connection.get();
  uv_poll_start(connection->poll, UV_READABLE | UV_WRITABLE, Connection::on_poll);
  if (!options_.password.empty()) {
    if (options_.user.empty())
      connection->send({"AUTH", options_.password});
    else
      connection->send({"AUTH", options_.user, options_.password});
  }
  Connection* raw = connection.get();
  connections_.emplace(name, std::move(connection));
  return raw;
}

void ShardedSubscriber::close_connection(const std::string& name) {
  auto found = connections_.find(name);
  if (found == connections_.end()) return;
  Connection* connection = found->second.get();
  connection->closed = true;
  // The poll must stop before hiredis closes the descriptor it watches.
  uv_poll_stop(connection->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(connection->poll),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  redisFree(connection->ctx);
  connection->ctx = nullptr;
  // Freed on the next tick: the poll callback that led here still reads `closed`.
  graveyard_.push_back(std::move(found->second));
  connections_.erase(found);
}

void ShardedSubscriber::on_connection_lost(Connection& connection) {
  std::string name = connection.name;
  for (auto& entry : channels_) {
    if (entry.second.on != name) continue;
    entry.second.on.clear();
    set_active(entry.first, entry.second, false);
  }
  close_connection(name);
  if (stopping_) return;
  dirty_ = true;
  router_.refresh();  // a lost master is the first sign of a failover
  flush_notices();
}

void ShardedSubscriber::on_push(Connection& connection, redisReply* reply) {
  if (reply->type == REDIS_REPLY_ERROR) {
    // An SSUBSCRIBE went to a node that does not own the slot (MOVED), or was refused. The error
    // does not name its channels: every channel still unconfirmed here is placed again.
    std::string text = text_of(reply);
    if (auto redirect = parse_redirect(text)) {
      if (redirect->target.host.empty()) redirect->target.host = connection.node.host;
      router_.apply_redirect(*redirect);
    }
    last_error_ = connection.name + ": " + text;
    for (auto& entry : channels_)
      if (entry.second.on == connection.name && !entry.second.active) entry.second.on.clear();
    dirty_ = true;
    return;
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) return;  // AUTH's OK and the like
  std::string kind = text_of(reply->element[0]);
  std::string name = text_of(reply->element[1]);
  auto found = channels_.find(name);
  bool here = found != channels_.end() && found->second.on == connection.name;
  if (kind == "smessage") {
    if (here && on_message_) on_message_(name, text_of(reply->element[2]));
  } else if (kind == "ssubscribe") {
    if (here) {
      set_active(name, found->second, true);
    } else {
      // Unsubscribed, or moved elsewhere, while this confirmation was on its way.
      connection.own_unsubscribes[name]++;
      connection.send({"SUNSUBSCRIBE", name});
    }
  } else if (kind == "sunsubscribe") {
    auto own = connection.own_unsubscribes.find(name);
    if (own != connection.own_unsubscribes.end() && own->second > 0) {
      if (--own->second == 0) connection.own_unsubscribes.erase(own);
    } else if (here) {
      // The node dropped us itself: its slot moved to another shard.
      found->second.on.clear();
      set_active(name, found->second, false);
      dirty_ = true;
      router_.refresh();
    }
  }
  flush_notices();
}

void ShardedSubscriber::reconcile() {
  if (stopping_ || !dirty_) return;
  const SlotMap* map = router_.map();
  if (!map) return;
  dirty_ = false;
  // master -> slot -> channels to subscribe there; one SSUBSCRIBE per slot (a command's channels
  // must share a slot), so channels arriving together share a round trip.
  std::map<std::string, std::pair<NodeAddress, std::map<uint16_t, std::vector<std::string>>>>
      batches;
  for (auto& entry : channels_) {
    Channel& channel = entry.second;
    const Shard* shard = map->shard_of(channel.slot);
    if (!shard) {
      dirty_ = true;  // the slot has no master yet: try again on the next tick
      continue;
    }
    std::string target = shard->master.text();
    if (channel.on == target) continue;
    if (!channel.on.empty()) {
      auto old = connections_.find(channel.on);
      if (old != connections_.end()) {
        old->second->own_unsubscribes[entry.first]++;
        old->second->send({"SUNSUBSCRIBE", entry.first});
      }
      channel.on.clear();
      set_active(entry.first, channel, false);
    }
    auto& batch = batches[target];
    batch.first = shard->master;
    batch.second[channel.slot].push_back(entry.first);
  }
  for (auto& batch : batches) {
    Connection* connection = connection_to(batch.second.first);
    if (!connection) {
      dirty_ = true;
      continue;
    }
    for (auto& slot : batch.second.second) {
      std::vector<std::string> args{"SSUBSCRIBE"};
      for (auto& name : slot.second) {
        args.push_back(name);
        channels_[name].on = batch.first;
      }
      connection->send(args);
    }
  }
}

void ShardedSubscriber::on_tick() {
  graveyard_.clear();
  int64_t now = now_ms();
  std::vector<std::string> hung;
  for (auto& entry : connections_) {
    Connection& c = *entry.second;
    if (!c.connected) {
      if (now - c.connecting_since_ms > options_.connect_timeout_ms) hung.push_back(entry.first);
    } else if (c.ping_sent_ms != 0) {
      // A node that answers nothing (frozen, or a network that drops without a reset).
      if (now - c.ping_sent_ms > options_.reply_timeout_ms) hung.push_back(entry.first);
    } else if (now - c.last_read_ms > kQuietPingMs) {
      c.ping_sent_ms = now;
      c.send({"PING"});  // answered ["pong", ""] in subscribed mode, +PONG otherwise
    }
  }
  for (auto& name : hung) {
    auto found = connections_.find(name);
    if (found != connections_.end()) on_connection_lost(*found->second);
  }
  reconcile();
  flush_notices();
}

void ShardedSubscriber::stop() {
  if (stopping_) return;
  stopping_ = true;
  router_.remove_map_listener(listener_id_);
  uv_timer_stop(timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  std::vector<std::string> names;
  for (auto& entry : connections_) names.push_back(entry.first);
  for (auto& name : names) close_connection(name);
}

}  // namespace rthub::cluster
