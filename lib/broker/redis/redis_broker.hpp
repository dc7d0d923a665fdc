// redis_broker.hpp: many hub nodes as one hub, through Redis.
//
// Positions and history live in Redis (scripts.hpp): a Lua script assigns (epoch, seq) atomically,
// appends the message to the channel's stream and publishes it; every node receives it through
// one pattern subscription and hands it to its local subscribers. Resume reads the stream, so it
// works on a node that never saw the original messages.
//
// Plain-PUBLISH interop: each bridged Redis channel is subscribed on every node, but only the
// holder of an ingest lease (SET NX PX, renewed) turns its payloads into sequenced messages, so a
// payload is ingested once while several nodes run.
//
// All Redis I/O is asynchronous hiredis on the hub's own libuv loop: nothing blocks the service
// thread. While Redis is unreachable, publishes fail with kUnavailable, connected clients keep
// their sessions, and the broker reconnects with backoff and jitter, then fills any gap in what
// its subscribers saw from the streams.
//
// Liveness: every second each link is pinged (the command link with PING, the pub/sub link with a
// PUBLISH on this node's own ping channel, which proves that link delivers). From the first ping
// left unanswered at the next tick the broker is not ready (/healthz 503, rthub_broker_up 0) until
// an answer comes; after two misses the link is dropped and reconnected. A gap fill that finds the
// command link down waits for it instead of declaring the messages lost.
#pragma once

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/redis/redis_url.hpp"
#include "core/metrics.hpp"
#include "rthub/broker.hpp"
#include "rthub/hub.hpp"

struct redisAsyncContext;
struct redisReply;
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_timer_s uv_timer_t;

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
  void release(const std::string& channel) override { tracks_.erase(channel); }
  void tick(int64_t) override {}
  size_t history_bytes() const override { return 0; }  // held by Redis
  size_t channel_count() const override { return tracks_.size(); }
  bool ready() const override;
  void stop() override;
  void render_metrics(std::string& out) const override;

  // One connection to Redis; `commands` for scripts, `pubsub` for subscriptions.
  struct Link;

 private:
  // What this node delivered last on a channel, to put the stream back in order after a gap.
  struct Track {
    std::string epoch;
    uint64_t seq = 0;
    bool fetching = false;
    bool fill_pending = false;  // a gap fill waits for the command link to come back
    std::deque<Message> waiting;
  };

  void connect(Link& link);
  void on_connected(Link& link);
  void on_disconnected(Link& link);
  void schedule_reconnect(Link& link);
  void drop(Link& link);
  void ping(Link& link);
  void on_pong(Link& link);
  void on_pubsub(redisReply* reply);
  void on_record(const std::string& channel, Message message);
  void accept(const std::string& channel, Track& track, Message message);
  void fetch_gap(const std::string& channel, uint64_t from);
  void deliver(Message message);
  void ingest_bridged(const std::string& channel, const std::string& payload);
  void on_timer();
  void resume_fills();
  std::string new_epoch();
  std::string key(const std::string& channel, const char* part) const;
  size_t command(std::function<void(redisReply*)> on_reply, const std::vector<std::string>& args);

  uv_loop_t* loop_;
  const HubOptions& options_;
  RedisAddress address_;
  BrokerListener* listener_ = nullptr;
  std::unique_ptr<Link> commands_, pubsub_;
  uv_timer_t* timer_ = nullptr;
  bool stopping_ = false;
  std::string node_id_;
  int64_t lease_until_ms_ = 0;
  uint64_t pings_ = 0;  // the pub/sub link's pings carry this counter
  std::unordered_map<std::string, Track> tracks_;
  std::mt19937_64 random_;

  Counter reconnects_, messages_in_, messages_out_, publish_failures_, bridged_in_, gaps_filled_;
  LatencyHistogram publish_rtt_;
};

}  // namespace rthub
