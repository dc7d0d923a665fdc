// server_ops_state.cpp: the hub's keyed-state and presence objects (docs/CLIENT.md, "Snapshots"
// and "Presence"): snapshot parts assembled into one kSnapshot event that moves the channel's
// position to the snapshot's, presence answers, join and leave.
#include "client/server_ops.hpp"
#include "client/state_wire.hpp"

namespace rthub::client {
namespace {

// The items of all parts as one JSON array, each item's text as the hub sent it.
std::string join_items(const std::vector<std::string>& parts, std::string& error) {
  std::string out = "[";
  std::vector<std::string_view> items;
  for (const auto& part : parts) {
    if (!split_json_array(part, items)) {
      error = "snapshot items are not an array";
      return {};
    }
    for (std::string_view item : items) {
      if (out.size() > 1) out += ',';
      out += item;
    }
  }
  out += ']';
  return out;
}

}  // namespace

// Parts are kept until the last ("more" absent); only then does the host see the state, and
// only then does the position move, so a connection lost mid-snapshot leaves nothing half-done.
void ServerOps::snapshot(ServerObject& o) {
  if (!o.has_seq) return sink_.error("protocol", "a snapshot without seq on " + o.channel);
  // SSE asks for snapshots per stream: a channel that did not ask passes over its own.
  if (!book_.confirmed(o.channel) || !book_.wants_snapshot(o.channel)) return;
  std::vector<std::string>& parts = parts_[o.channel];
  parts.push_back(o.items.empty() ? std::string("[]") : std::move(o.items));
  if (o.more) return;
  std::vector<std::string> complete;
  complete.swap(parts);
  parts_.erase(o.channel);

  std::string error;
  ClientEvent event;
  event.kind = ClientEvent::Kind::kSnapshot;
  event.data = join_items(complete, error);
  if (!error.empty() || !decode_snapshot_items(event.data, event.items, error))
    return sink_.error("protocol", "unreadable snapshot of " + o.channel + ": " + error);
  Position at{o.epoch, o.seq};
  if (!book_.on_snapshot(o.channel, at)) return;
  event.channel = std::move(o.channel);
  event.position = std::move(at);
  counters_.snapshots++;
  sink_.emit(std::move(event));
}

void ServerOps::presence(ServerObject& o, const std::optional<RequestBook::Pending>& answered) {
  if (!answered) return;  // an answer to a request of an earlier connection
  ClientEvent event;
  event.kind = ClientEvent::Kind::kPresence;
  std::string error;
  if (!decode_members(o.members, event.clients, error))
    return sink_.error("protocol", "unreadable presence of " + o.channel + ": " + error, o.channel,
                       answered->kind == RequestKind::kPresence ? *o.ref : 0);
  event.channel = std::move(o.channel);
  event.data = std::move(o.members);
  event.request_id = answered->kind == RequestKind::kPresence ? *o.ref : 0;
  sink_.emit(std::move(event));
}

void ServerOps::member_change(ServerObject& o) {
  if (!book_.confirmed(o.channel) || !book_.wants_presence(o.channel)) return;
  ClientEvent event;
  event.kind = o.op == ServerOp::kJoin ? ClientEvent::Kind::kJoin : ClientEvent::Kind::kLeave;
  std::string error;
  if (!decode_members(o.members, event.clients, error) || event.clients.size() != 1)
    return sink_.error("protocol", "unreadable " + o.op_name + " on " + o.channel + ": " +
                                       (error.empty() ? "not one client" : error));
  event.channel = std::move(o.channel);
  event.data = std::move(o.members);
  sink_.emit(std::move(event));
}

}  // namespace rthub::client
