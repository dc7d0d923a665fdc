// redis_broker.hpp: many hub nodes as one hub, through Redis.
//
// Positions and history live in Redis (scripts.hpp): a Lua script assigns (epoch, seq) atomically,
// appends the message to the channel's stream and publishes it on the channel's pub/sub channel
// rthub:{<channel>}:m. A node subscribes there only while it has local subscribers of the channel
// (ChannelSubscriptions: batched SUBSCRIBE/UNSUBSCRIBE), and fills from the stream what was
// published between a client's subscribe and the Redis subscription taking effect. Resume reads
// the stream, so it works on a node that never saw the original messages.
//
// Plain-PUBLISH interop: each bridged Redis channel is subscribed on every node, and every node
// keeps its recent payloads (BridgeBacklog). Only the holder of the channel's ingest lease turns
// payloads into sequenced messages; the publish script refuses a node that does not hold it and
// records the hashes of the last payloads ingested, so a node taking the lease over (the holder
// died) ingests exactly what follows them. A node is not ready until, for every bridged channel,
// it holds the lease or knows that another node does.
//
// All Redis I/O is asynchronous hiredis on the hub's own libuv loop: nothing blocks the service
// thread. While Redis is unreachable, publishes fail with kUnavailable, connected clients keep
// their sessions, and the broker reconnects with backoff and jitter, then fills any gap in what
// its subscribers saw from the streams. Before that fill, Redis checks that it still holds the last
// message the node delivered on the channel (a promoted replica may lack it: scripts.hpp kVerify)
// and begins a new epoch if not, so nodes never take new messages for repeats of lost ones.
//
// Keyed state: the publish script also keeps the latest record of each key of a channel (a hash
// beside the stream, at most max_keys keys, a delete removes one), and the read script returns
// those records with the position it reads, so a snapshot and its seq are of one instant. Keyed
// state outlives history's expiry: a channel holding keys keeps its numbering.
//
// Liveness: every second each link is pinged (the command link with PING, the pub/sub link with a
// PUBLISH on this node's own ping channel, which proves that link delivers). From the first ping
// left unanswered at the next tick the broker is not ready (/healthz 503, rthub_broker_up 0) until
// an answer comes; after two misses the link is dropped and reconnected. A pub/sub link whose
// first answer (its ping channel's SUBSCRIBE confirmation) misses three ticks is dropped too: a
// socket that never answers is never reported closed by hiredis 0.14's libuv adapter. A gap fill
// that finds the command link down waits for it instead of declaring the messages lost.
#pragma once

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/redis/bridge_backlog.hpp"
#include "broker/redis/channel_subscriptions.hpp"
#include "broker/redis/redis_presence.hpp"
#include "broker/redis/redis_url.hpp"
#include "core/metrics.hpp"
#include "rthub/broker.hpp"
#include "rthub/hub.hpp"

struct redisAsyncContext;
struct redisReply;
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_timer_s uv_timer_t;

namespace rthub::cluster {
class ClusterRouter;
class ShardedSubscriber;
}  // namespace rthub::cluster

namespace rthub {

class RedisBroker final : public Broker {
 public:
  // Throws Error(kInvalid) for a bad URL or bridge channel name.
  RedisBroker(uv_loop_t* loop, const HubOptions& options);
  ~RedisBroker() override;

  void attach(BrokerListener& listener) override { listener_ = &listener; }
  void publish(Message message, std::function<void(const PublishOutcome&)> done) override;
  void history(const std::string& channel, const std::optional<Position>& since,
               std::function<void(HistoryOutcome&)> done) override;
  bool keeps_keys() const override { return true; }
  void history_with_snapshot(const std::string& channel, const std::optional<Position>& since,
                             std::function<void(HistoryOutcome&)> done) override;
  void release(const std::string& channel) override;
  void tick(int64_t) override {}
  size_t history_bytes() const override { return 0; }  // held by Redis
  size_t channel_count() const override { return tracks_.size(); }
  bool ready() const override;
  void stop() override;
  void render_metrics(std::string& out) const override;
  // Presence across nodes: redis_presence.hpp.
  bool shares_presence() const override { return true; }
  void presence_join(const std::string& channel, uint64_t id, const std::string& client,
                     bool watching) override {
    presence_->join(channel, id, client, watching);
  }
  void presence_leave(const std::string& channel, uint64_t id, const std::string& client) override {
    presence_->leave(channel, id, client);
  }
  void presence_clients(const std::string& channel,
                        std::function<void(const std::string*)> done) override {
    presence_->clients(channel, std::move(done));
  }

  // One connection to Redis; `commands` for scripts, `pubsub` for subscriptions.
  struct Link;

 private:
  // What this node delivered last on a channel, to put the stream back in order after a gap.
  struct Track {
    std::string epoch;
    uint64_t seq = 0;
    int64_t ts_ms = 0;  // of the message at seq: its identity for verify_history
    // The link or slot map changed since this node delivered seq: Redis may be a promoted
    // replica that lacks it. Checked (verify_history) before the next gap fill.
    bool verify = false;
    bool fetching = false;
    bool fill_pending = false;  // a gap fill waits for the command link to come back
    bool fill_again = false;    // fill once more when the running fill ends
    // History reads in flight while the channel has no known position: Redis may have run one
    // before the channel's SUBSCRIBE took effect though its answer comes after the first
    // messages, so those wait for the read's position (and a fill from it) instead of setting it.
    int reads = 0;
    std::deque<Message> waiting;
  };
  // One bridged Redis channel.
  struct Bridge {
    std::string channel;
    BridgeBacklog backlog;
    bool subscribed = false;  // its SUBSCRIBE is confirmed on the current pub/sub link
    bool holding = false;     // this node ingests (holds the lease and caught up)
    bool known = false;       // a lease answer came: this node or another one ingests
    bool asking = false;      // a lease script is in flight
  };
  enum class Script { kPublish, kRead, kLease, kVerify };

  void connect(Link& link);
  // A publish; with a bridge hash, an ingest of a bridged payload (refused unless this node
  // holds the channel's lease; the hash is recorded for a taker-over).
  void send_publish(Message message, const std::string& bridge_hash,
                    std::function<void(const PublishOutcome&)> done);
  // history() and history_with_snapshot(): one read script, with the keys' records if asked.
  void read(const std::string& channel, const std::optional<Position>& since, bool snapshot,
            std::function<void(HistoryOutcome&)> done);
  // The keys' records of a read, in seq order, as snapshot items.
  static std::vector<EnvelopePtr> snapshot_items(const std::string& channel,
                                                 const std::string& epoch,
                                                 const redisReply* records);
  void on_connected(Link& link);
  void on_disconnected(Link& link, const char* why);
  void schedule_reconnect(Link& link);
  void drop(Link& link, const char* why);
  void ping(Link& link);
  void on_pong(Link& link);
  void on_pubsub(redisReply* reply);
  void on_record(const std::string& channel, Message message);
  void accept(const std::string& channel, Track& track, Message message);
  void fetch_gap(const std::string& channel, uint64_t from);
  // Has Redis check that it still holds what this node delivered last on the channel, and begin
  // a new epoch if not (scripts.hpp kVerify); then the gap fill from `from`.
  void verify_history(const std::string& channel, uint64_t from);
  // A history read answered (`latest` null when it failed): the channel's position when it had
  // none, then a fill from there; see Track::reads.
  void settle_read(const std::string& channel, const Position* latest);
  void resume_fills();
  void deliver(Track& track, Message message);
  void schedule_flush();
  void flush_subscriptions();
  void on_subscribed(const std::string& channel);
  void on_bridged(Bridge& bridge, std::string payload);
  void ingest(Bridge& bridge, const std::string& payload);
  void bid_for_lease(Bridge& bridge);
  void release_leases();
  Bridge* bridge_of(const std::string& name);
  void on_timer();
  std::string new_epoch();
  std::string key(const std::string& channel, const char* part) const;
  // How long a channel's keys live (s): history is kept for a day past its age bound so that the
  // numbering survives idle hours.
  std::string key_lifetime() const;
  // One command on the command link; on a cluster, a command with a key goes to its slot's master
  // (cluster_command). on_reply gets nullptr when there is no answer; `sent` tells whether the
  // command may have run.
  size_t command(std::function<void(redisReply*)> on_reply, const std::vector<std::string>& args,
                 bool* sent = nullptr);
  // EVALSHA of `script` (EVAL once more on NOSCRIPT); `sent` as for command().
  void eval(Script script, std::vector<std::string> keys_and_args,
            std::function<void(redisReply*)> on_reply, std::shared_ptr<bool> sent = nullptr);

  // Redis Cluster (options.redis_cluster; cluster/redis_broker_cluster.cpp): scripts and stream
  // reads go to the master of their channel's slot, records arrive by SSUBSCRIBE; the two links
  // above go to any node, for liveness, the bridged channels and the leases.
  void start_cluster();
  // Sends a command that has a key to its slot's master; false for one any node answers. `sent`
  // (as for command()) must stay valid until on_reply runs.
  bool cluster_command(const std::vector<std::string>& args,
                       std::function<void(redisReply*)>& on_reply, bool* sent);
  void flush_cluster_subscriptions();
  void on_sharded_record(const std::string& name, const std::string& payload);
  void on_sharded_active(const std::string& name, bool active);
  std::pair<std::string, int> link_target();  // where a link connects next
  bool cluster_ready() const;                 // true on a single Redis
  void stop_cluster();
  void render_cluster_metrics(std::string& out) const;

  uv_loop_t* loop_;
  const HubOptions& options_;
  RedisAddress address_;
  BrokerListener* listener_ = nullptr;
  std::unique_ptr<Link> commands_, pubsub_;
  uv_timer_t* timer_ = nullptr;
  uv_timer_t* flush_timer_ = nullptr;
  bool stopping_ = false;
  std::string node_id_;
  uint64_t pings_ = 0;  // the pub/sub link's pings carry this counter
  std::unordered_map<std::string, Track> tracks_;
  ChannelSubscriptions subscriptions_;
  std::vector<std::unique_ptr<Bridge>> bridges_;
  std::vector<std::string> script_text_;  // by Script; the sharded form on a cluster
  std::vector<std::string> script_sha_;   // by Script
  std::mt19937_64 random_;
  std::unique_ptr<cluster::ClusterRouter> router_;       // null on a single Redis
  std::unique_ptr<cluster::ShardedSubscriber> sharded_;  // destroyed before the router
  size_t link_turn_ = 0;                                 // link_target's rotation

  Counter reconnects_, messages_in_, messages_out_, publish_failures_, bridged_in_,
      bridged_refused_, gaps_filled_, subscribe_commands_, histories_broken_;
  LatencyHistogram publish_rtt_;
  std::unique_ptr<RedisPresence> presence_;
};

}  // namespace rthub
