// sharded_subscriber.hpp: SSUBSCRIBE to channels on the cluster shards that own them.
//
// Sharded pub/sub (Redis 7) delivers an SPUBLISH only to the clients subscribed on the shard
// that owns the channel's slot, so each channel is subscribed on its slot's master, with one
// subscriber connection per master. The router's map decides the master; when the map changes,
// when a subscriber connection is lost, when a node answers MOVED, or when a node unsubscribes
// us itself (it does when the slot migrates away), the channel is subscribed again where it now
// belongs. Channels of one slot that wait together share one SSUBSCRIBE.
//
// hiredis 0.14's async API cannot carry these connections: it knows only SUBSCRIBE and
// PSUBSCRIBE, and it asserts on a push ("smessage") that no callback waits for. So each
// connection here is a non-blocking hiredis context (its reader and output buffer) polled by
// libuv directly.
//
// A connection quiet for a second is sent a PING; one that answers nothing within the router
// options' reply_timeout_ms is dropped and its channels placed again.
//
// A message sent while a channel is not active (between subscribe() and active, during a move)
// is not delivered: the caller fills such windows from history, as it does after any gap.
//
// Thread safety: none; everything happens on the loop's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/redis/cluster/cluster_router.hpp"

typedef struct uv_loop_s uv_loop_t;
typedef struct uv_timer_s uv_timer_t;

namespace rthub::cluster {

class ShardedSubscriber {
 public:
  using OnMessage = std::function<void(const std::string& channel, const std::string& payload)>;
  using OnActive = std::function<void(const std::string& channel, bool active)>;

  /* ShardedSubscriber uses router's map (router must outlive it); on_message gets every message
     of a subscribed channel, on_active each change of a channel's subscription state. */
  ShardedSubscriber(uv_loop_t* loop, ClusterRouter& router, RouterOptions options,
                    OnMessage on_message, OnActive on_active = nullptr);
  /* ~ShardedSubscriber stops; the loop must still run afterwards to close handles. */
  ~ShardedSubscriber();

  /* subscribe adds channel (nothing if already added); it becomes active once its master confirms.
   */
  void subscribe(const std::string& channel);
  /* unsubscribe removes channel; no message of it is delivered afterwards. */
  void unsubscribe(const std::string& channel);
  /* active tells whether the owning master confirmed the subscription of channel. */
  bool active(const std::string& channel) const;
  size_t channel_count() const { return channels_.size(); }

  /* last_error returns the last error a node answered (a refused AUTH, a MOVED), for diagnostics.
   */
  const std::string& last_error() const { return last_error_; }

  /* stop closes every connection; no callback is called afterwards. */
  void stop();

  struct Connection;  // one subscriber connection to one master

  // Called by a connection (they are not part of the interface).
  void on_push(Connection& connection, struct redisReply* reply);
  void on_connection_lost(Connection& connection);

 private:
  struct Channel {
    uint16_t slot = 0;
    std::string on;  // "host:port" the SSUBSCRIBE went to; empty: not sent
    bool active = false;
  };

  void reconcile();
  void set_active(const std::string& name, Channel& channel, bool active);
  void flush_notices();
  Connection* connection_to(const NodeAddress& node);
  void close_connection(const std::string& name);
  void on_tick();

  uv_loop_t* loop_;
  ClusterRouter& router_;
  RouterOptions options_;
  OnMessage on_message_;
  OnActive on_active_;
  uv_timer_t* timer_ = nullptr;
  bool stopping_ = false;
  bool dirty_ = false;  // some channel is not where the map says: reconcile on the next tick
  std::unordered_map<std::string, Channel> channels_;
  std::unordered_map<std::string, std::unique_ptr<Connection>> connections_;  // by "host:port"
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed, freed on the next tick
  std::deque<std::pair<std::string, bool>> notices_;    // on_active calls not yet made
  std::string last_error_;
  int listener_id_ = 0;
};

}  // namespace rthub::cluster
