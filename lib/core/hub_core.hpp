// hub_core.hpp: the hub's service-thread logic: sessions, the channel registry, requests,
// fan-out, resume and heartbeats. It knows no transport library and no broker internals.
#pragma once

#include <algorithm>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/codec.hpp"
#include "core/gatekeeper.hpp"
#include "core/json_scan.hpp"
#include "core/metrics.hpp"
#include "rthub/broker.hpp"
#include "rthub/hub.hpp"
#include "rthub/transport.hpp"

namespace rthub {

// Monotonic and wall clocks used by the core.
int64_t monotonic_us();
int64_t wall_ms();

class HubCore final : public SessionHost, public BrokerListener {
 public:
  HubCore(const HubOptions& options, Metrics& metrics);
  // The broker to use; set once, before the first session.
  void use_broker(Broker& broker);
  ~HubCore() override;

  // SessionHost
  void attach(Session& session) override;
  void detach(Session& session) override;
  void on_request(Session& session, std::string_view text) override;
  void open_stream(Session& session, const std::vector<std::string>& channels,
                   const StreamResume& resume, bool snapshot = false) override;
  void on_written(Session& session, const Outbound& item, int64_t now_us) override;

  // BrokerListener
  void on_broker_message(const EnvelopePtr& message) override;
  bool has_subscribers(const std::string& channel) const override;
  void on_presence(const std::string& channel, const char* op, uint64_t id,
                   const std::string& client) override;
  // Presence is kept by this core with one shard and the memory broker, or by a broker shared
  // by the broker (the shards' shared memory broker, or Redis across nodes).
  bool presence_supported() const {
    return (broker_ && broker_->shares_presence()) ||
           (options_.shards <= 1 && options_.redis_url.empty());
  }
  // The JSON array of the clients subscribed to `channel` ({"id":N,"user":...}, by id), to `done`
  // on the service thread, maybe later; null when the broker cannot tell now.
  void presence_clients(const std::string& channel,
                        std::function<void(const std::string* clients)> done);
  // Whether the holder of `rights` (null: no token configured) may see `channel`'s presence.
  bool may_subscribe(const Rights* rights, const std::string& channel) const;
  // Whether the broker keeps keyed messages (snapshots); the Redis broker does not yet.
  bool keeps_keys() const override { return broker_ && broker_->keeps_keys(); }
  void note_fallback(const TransportKind& kind) override { metrics_.of(kind).fallbacks.add(); }

  // Publishes a checked message (channel valid, data valid JSON); stamps its time.
  void publish(Message message, std::function<void(const PublishOutcome&)> done);
  // Queues an error object on a session.
  void send_error(Session& session, codec::ErrorCode code, std::string_view text,
                  std::string_view ref = {});
  // Shards sharing one broker see each message once per shard: the broker counts them instead.
  void leave_published_count_to_broker() { counts_published_ = false; }
  // Adds the deliveries counted since the last call to the shared metrics; the transport calls
  // it once per loop iteration (per-delivery atomics would cost more than the rest of a write).
  void publish_write_metrics();
  // Housekeeping, spread over time: the sessions sit in kSweepSlices buckets and each tick visits
  // the buckets whose turn has come, so every session is visited once per kSweepMs (queue shrink,
  // heartbeat ping, silent-peer probe, token expiry) and a tick touches about 1/kSweepSlices of
  // them: connections that arrived together are not all pinged in one loop iteration. History
  // expiry and the admission counters run once per sweep. Call every kTickMs.
  static constexpr int kSweepSlices = 40;
  static constexpr int64_t kSweepMs = 1000;
  static constexpr int64_t kTickMs = kSweepMs / kSweepSlices;
  void tick();
  // tick() at a given monotonic time (ms); a tick late by several slices visits each one due, at
  // most one whole sweep.
  void tick_at(int64_t now_ms);
  // Closes every session with `code` (shutdown).
  void close_all(CloseCode code);
  size_t session_count() const { return sessions_.size(); }
  // Whether a new connection may open (Origin, limits, rate, token, host hook).
  Admission admit(const ConnectRequest& request) override;
  // Checks that `session` may subscribe to every channel of a stream; `done(true)` when all may,
  // `done(false, channel)` at the first refused one. `done` runs on the service thread, maybe
  // later.
  void authorize_stream(Session& session, const std::vector<std::string>& channels,
                        std::function<void(bool, const std::string&)> done) override;
  bool origin_allowed(const std::string& origin) const {
    return gatekeeper_.origin_allowed(origin);
  }
  Session* find_session(uint64_t id) const override;
  // The history API: checks that a caller with `rights` (null: anonymous) may subscribe to
  // `channel` (rules and host hook), then reads a page from the broker. `done` runs on the
  // service thread; `allowed` false: refused, `page` empty.
  void read_history(const Rights* rights, const std::string& channel, const HistoryQuery& query,
                    std::function<void(bool allowed, HistoryPage& page)> done);
  // How host completions reach the service thread (any thread may call it).
  void set_poster(std::function<void(std::function<void()>)> post) { post_ = std::move(post); }
  // Session ids are first, first + step, ...: shards number theirs apart (first = index + 1,
  // step = shard count), so an id names one connection in the whole hub (presence lists them).
  void number_sessions(uint64_t first, uint64_t step) {
    next_id_ = first;
    id_step_ = step;
  }

 private:
  struct Subscription;
  struct StreamOpening;
  struct SessionRecord {
    Session* session;
    std::vector<std::shared_ptr<Subscription>> slots;  // by cursor slot; null when free
    size_t sweep_index = 0;                            // in sweep_[sweep_bucket]
    uint32_t count = 0;         // subscriptions (narrow: one record per connection)
    uint32_t sweep_bucket = 0;  // in sweep_
  };
  struct FanOut;

  bool counts_published_ = true;
  SessionRecord& record_of(Session& session) { return sessions_[session.host_index]; }
  // Probes a peer silent for a heartbeat (the transport's probe frame); true when it was silent
  // for three and closed.
  bool probe_silent_peer(Session& session, int64_t now_ms, int64_t idle_ms);
  // Counts one copy of a followed fan-out as written at `written_us`, or discarded when 0.
  void count_fanout_copy(const Outbound& item, int64_t written_us);
  // Empties a session's queue (it is closing or gone), counting its fan-out copies as discarded.
  void discard_queue(Session& session);
  // One session's turn in the sweep.
  void visit(Session& session, int64_t now_ms, std::array<Frame, kMaxTransports>& pings);
  // Runs once per sweep: admission counters, history expiry, gauges, abandoned fan-out records.
  void once_per_sweep(int64_t now_ms);
  // Adds a subscription and asks the broker for its history; false (with an error queued) when
  // the session may not have it.
  bool subscribe(Session& session, const std::string& channel, const std::optional<Position>& since,
                 std::string ref, std::shared_ptr<StreamOpening> opening = nullptr,
                 bool snapshot = false, bool presence = false);
  void unsubscribe(Session& session, const std::string& channel, std::string_view ref);
  void remove_subscription(Subscription& sub);
  void finish_subscribe(const std::shared_ptr<Subscription>& sub, HistoryOutcome& history,
                        const std::optional<Position>& since, const std::string& ref);
  // Sends the retained messages after a subscription's `subscribed` (or its snapshot), then what
  // it held meanwhile.
  void replay(Subscription& sub, const std::vector<EnvelopePtr>& messages,
              const HistoryOutcome* snapshot = nullptr);
  // Queues a snapshot, in parts of at most about max_message_bytes when the transport splits
  // snapshots, else as one object.
  void send_snapshot(Subscription& sub, const HistoryOutcome& history);
  void stream_step(const std::shared_ptr<StreamOpening>& opening);
  // Queues `message` for `sub`; the frame it queued, or null when it queued none.
  const std::string* deliver(Subscription& sub, const EnvelopePtr& message);
  // Queues `item`; a session past its bound is dropped as a slow consumer. False when dropped.
  bool enqueue(Session& session, Outbound item);
  void send_control(Session& session, std::string json);
  // Tells the channel's other subscribers that asked for presence that `sub` joined or left.
  enum class Membership { kJoined, kLeft };
  void announce(const Subscription& sub, Membership change);
  // Queues a join or leave of member `id` for the local presence subscribers of `channel` but it.
  void tell_presence_subscribers(const std::string& channel, const char* op, uint64_t id,
                                 const std::string& client);
  void presence_request(Session& session, const std::string& channel, const std::string& ref);
  void publish_request(Session& session, const json::Fields& f, const std::string& data,
                       const std::string& ref);
  void refresh(Session& session, const json::Fields& f, std::string_view ref);
  // Decides a subscribe or publish by the session's rights and the host's hook; `then` runs on
  // the service thread, only if the session still exists.
  void check_channel(Session& session, ChannelRequest::Action action, const std::string& channel,
                     std::function<void(Session&, bool)> then);

  const HubOptions& options_;
  Broker* broker_ = nullptr;
  Metrics& metrics_;
  std::vector<SessionRecord> sessions_;
  std::unordered_map<std::string, std::vector<Subscription*>> channels_;
  std::unordered_map<std::string, size_t> per_peer_;  // open sessions by client address
  std::unordered_map<uint64_t, Session*> by_id_;
  uint64_t next_id_ = 1;
  uint64_t id_step_ = 1;
  // Monotonic, refreshed by tick() and by each request and published message (refresh_clock):
  // a session's last-queued time comes from it, and a clock only refreshed by a late tick would
  // make a heartbeat ping come early by the tick's lateness.
  int64_t coarse_now_ms_ = monotonic_us() / 1000;
  // Never backwards: the unit tests drive tick_at() ahead of the real clock.
  void refresh_clock() { coarse_now_ms_ = std::max(coarse_now_ms_, monotonic_us() / 1000); }
  WriteTally written_;  // deliveries not yet added to metrics_
  Gatekeeper gatekeeper_;
  std::function<void(std::function<void()>)> post_;
  std::array<std::vector<Session*>, kSweepSlices> sweep_;  // sessions by sweep bucket
  size_t sweep_next_ = 0;                                  // the bucket visited next
  int64_t sweep_due_ms_ = -1;  // when it is due; -1 before the first tick
  // Live fan-outs not yet written to every subscriber, by each of their frames (one per
  // transport).
  std::unordered_map<const std::string*, std::shared_ptr<FanOut>> fanouts_;
  const std::string* fanout_hit_key_ = nullptr;  // the frame last found in fanouts_ ...
  FanOut* fanout_hit_ = nullptr;                 // ... and its record
};

}  // namespace rthub
