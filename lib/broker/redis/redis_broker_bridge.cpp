// redis_broker_bridge.cpp: plain-PUBLISH interop: the ingest lease of each bridged channel, the
// backlog a taker-over continues from, and the ingest of payloads.
#include "broker/redis/redis_broker.hpp"

#include "broker/redis/redis_broker_internal.hpp"
#include "core/json_scan.hpp"

namespace rthub {
namespace {

constexpr int kLeaseMs = 5000;  // a bridged channel's ingest lease, renewed every second

}  // namespace

using namespace redis_internal;

RedisBroker::Bridge* RedisBroker::bridge_of(const std::string& name) {
  for (auto& b : bridges_)
    if (b->channel == name) return b.get();
  return nullptr;
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
  // passed through); so does an object with a top-level "key" and "data" (or "delete":true): a
  // keyed message, as if published with that key. Anything else is data.
  json::Scan scan = json::scan_requests(payload, false);
  const json::Fields* f = scan.ok ? &scan.items.front() : nullptr;
  bool envelope = f && f->error.empty() &&
                  ((f->has_type && f->data.present()) ||
                   (!f->key.empty() && (f->data.present() || f->delete_key)));
  if (envelope) {
    if (f->has_type) m.type = f->type;
    m.data.assign(f->data.present() ? f->data.in(payload) : std::string_view("null"));
    if (f->timestamp.present()) m.timestamp.assign(f->timestamp.in(payload));
    m.key = f->key;
    m.deleted = f->delete_key && !f->key.empty();
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
        // A new key past max keys has no publisher to tell: counted (a metric).
        if (outcome.error == BrokerError::kTooManyKeys) bridged_refused_.add();
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

}  // namespace rthub
