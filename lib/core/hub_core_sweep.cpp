// hub_core_sweep.cpp: HubCore's housekeeping, one slice of the sessions per tick: queue shrink,
// token expiry, heartbeats and silent-peer probes, and the work done once per sweep.
#include "core/hub_core.hpp"

#include "core/hub_core_records.hpp"
#include "core/jwt.hpp"

namespace rthub {

void HubCore::tick() {
  tick_at(monotonic_us() / 1000);
}

void HubCore::tick_at(int64_t now_ms) {
  coarse_now_ms_ = now_ms;
  publish_write_metrics();
  if (sweep_due_ms_ < 0) sweep_due_ms_ = now_ms;
  std::array<Frame, kMaxTransports> pings;  // one ping frame per transport and tick, shared
  for (int n = 0; n < kSweepSlices && now_ms >= sweep_due_ms_; ++n) {
    // By index: a visit may close a session, but the transport detaches it later, never now.
    auto& bucket = sweep_[sweep_next_];
    for (size_t i = 0; i < bucket.size(); ++i) visit(*bucket[i], now_ms, pings);
    sweep_due_ms_ += kTickMs;
    if (++sweep_next_ == sweep_.size()) {
      sweep_next_ = 0;
      once_per_sweep(now_ms);
    }
  }
  // Late by more than a whole sweep (a stalled loop): every bucket was just visited; go on from
  // now instead of visiting them all again.
  if (now_ms >= sweep_due_ms_) sweep_due_ms_ = now_ms + kTickMs;
}

void HubCore::visit(Session& session, int64_t now_ms, std::array<Frame, kMaxTransports>& pings) {
  // Drained queues give their storage back: a burst's at once, and a small one when nothing was
  // queued for a whole sweep, so that idle connections (most of them, most of the time) hold none.
  auto& queue = session.queue();
  if (queue.empty() && now_ms - session.last_queued_ms >= kSweepMs)
    queue.clear();
  else
    queue.shrink();
  if (session.closing()) return;
  // Connections whose token expired (and was not refreshed) end with 1008.
  const Rights* r = session.rights.get();
  if (r && r->expires_at && wall_ms() / 1000 > r->expires_at + jwt::kLeewaySeconds) {
    session.set_closing();
    session.close(CloseCode::kPolicy, "token expired");
    return;
  }
  int64_t idle_ms = static_cast<int64_t>(options_.heartbeat_seconds) * 1000;
  const TransportKind& kind = session.kind();
  if (kind.probe_frame() && probe_silent_peer(session, now_ms, idle_ms)) return;
  if (!kind.heartbeats() || now_ms - session.last_queued_ms < idle_ms) return;
  Frame& ping = pings[kind.index()];
  if (!ping) ping = codec::make_frame(kind, codec::ping(wall_ms()));
  Outbound item;
  item.frame = ping;
  if (enqueue(session, std::move(item))) metrics_.heartbeats_sent.add();
}

void HubCore::once_per_sweep(int64_t now_ms) {
  gatekeeper_.tick(now_ms);
  broker_->tick(wall_ms());
  metrics_.history_bytes.set(broker_->history_bytes());
  metrics_.channels.set(broker_->channel_count());
  // A fan-out whose last copies were never written (their sessions closed first) ends here,
  // unobserved: a minute is far past any write the hub would still make.
  constexpr int64_t kAbandonMs = 60'000;
  fanout_hit_key_ = nullptr;
  for (auto it = fanouts_.begin(); it != fanouts_.end();) {
    if (now_ms - it->second->started_ms > kAbandonMs)
      it = fanouts_.erase(it);
    else
      ++it;
  }
}

bool HubCore::probe_silent_peer(Session& session, int64_t now_ms, int64_t idle_ms) {
  int64_t silent_ms = now_ms - session.last_heard_ms;
  if (silent_ms >= 3 * idle_ms) {
    // Three heartbeats without a pong (or anything else): the link is dead.
    metrics_.heartbeat_timeouts.add();
    session.set_closing();
    session.close(CloseCode::kAbnormal, "no answer to heartbeats");
    return true;
  }
  if (silent_ms >= idle_ms && now_ms - session.last_probe_ms >= idle_ms) {
    // A transport-level probe: the peer's protocol stack answers it without application code.
    session.last_probe_ms = now_ms;
    Outbound item;
    item.frame = session.kind().probe_frame();
    int64_t queued_ms = session.last_queued_ms;  // a protocol ping does not replace {"op":"ping"}
    enqueue(session, std::move(item));
    session.last_queued_ms = queued_ms;
  }
  return false;
}

}  // namespace rthub
