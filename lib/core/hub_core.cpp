// hub_core.cpp: HubCore's clocks, construction, admission and the session lifecycle (attach,
// detach, shutdown). The other parts of HubCore live in the hub_core_*.cpp files beside it.
#include "core/hub_core.hpp"

#include <chrono>

#include "core/hub_core_records.hpp"

namespace rthub {

int64_t monotonic_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HubCore::HubCore(const HubOptions& options, Metrics& metrics)
    : options_(options), metrics_(metrics), gatekeeper_(options, metrics) {}

void HubCore::use_broker(Broker& broker) {
  broker_ = &broker;
  broker_->attach(*this);
}

HubCore::~HubCore() = default;

Admission HubCore::admit(const ConnectRequest& request) {
  auto peer = per_peer_.find(request.peer);
  // The hub-wide count (every shard's connections), from the shared gauges.
  size_t open_total = metrics_.open_total();
  return gatekeeper_.admit(request, open_total, peer == per_peer_.end() ? 0 : peer->second,
                           monotonic_us() / 1000);
}

Session* HubCore::find_session(uint64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void HubCore::attach(Session& session) {
  per_peer_[session.peer()]++;
  session.id = next_id_;
  next_id_ += id_step_;
  by_id_[session.id] = &session;
  session.host_index = sessions_.size();
  session.last_queued_ms = session.last_heard_ms = monotonic_us() / 1000;
  sessions_.push_back(SessionRecord{&session, {}});
  // The emptiest bucket: connections that arrive together land in different slices of the sweep.
  size_t bucket = 0;
  for (size_t b = 1; b < sweep_.size(); ++b)
    if (sweep_[b].size() < sweep_[bucket].size()) bucket = b;
  sessions_.back().sweep_bucket = static_cast<uint32_t>(bucket);
  sessions_.back().sweep_index = sweep_[bucket].size();
  sweep_[bucket].push_back(&session);
  metrics_.of(session.kind()).open.add();
  metrics_.of(session.kind()).accepted.add();
}

void HubCore::detach(Session& session) {
  if (session.host_index >= sessions_.size() || sessions_[session.host_index].session != &session)
    return;
  SessionRecord& record = record_of(session);
  for (auto& sub : record.slots)
    if (sub) remove_subscription(*sub);
  auto& bucket = sweep_[record.sweep_bucket];
  size_t in_bucket = record.sweep_index;
  if (in_bucket + 1 != bucket.size()) {
    bucket[in_bucket] = bucket.back();
    record_of(*bucket[in_bucket]).sweep_index = in_bucket;
  }
  bucket.pop_back();
  size_t index = session.host_index;
  if (index + 1 != sessions_.size()) {
    sessions_[index] = std::move(sessions_.back());
    sessions_[index].session->host_index = index;
  }
  sessions_.pop_back();
  session.host_index = SIZE_MAX;
  auto peer = per_peer_.find(session.peer());
  if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
  by_id_.erase(session.id);
  discard_queue(session);
  metrics_.of(session.kind()).open.sub();
}

bool HubCore::has_subscribers(const std::string& channel) const {
  return channels_.count(channel) != 0;
}

void HubCore::close_all(CloseCode code) {
  for (auto& record : sessions_) {
    Session& session = *record.session;
    if (session.closing()) continue;
    session.set_closing();
    session.close(code, "server going away");
  }
}

}  // namespace rthub
