// hub_core_presence.cpp: HubCore's presence: the join and leave events sent to the subscribers
// that asked for them, and the list of a channel's clients. With a broker that shares presence
// (the shards of one process) the members live there and joins and leaves come back through
// on_presence; otherwise this core's subscriptions are the members.
#include "core/hub_core.hpp"

#include <algorithm>

#include "core/hub_core_records.hpp"

namespace rthub {

namespace {

const std::string* user_of(const Session& session) {
  const Rights* r = session.rights.get();
  return r && !r->anonymous && !r->identity.empty() ? &r->identity : nullptr;
}

}  // namespace

void HubCore::announce(const Subscription& sub, Membership change) {
  const Session& session = *sub.session;
  std::string client = codec::presence_client(session.id, user_of(session));
  if (broker_ && broker_->shares_presence()) {
    if (change == Membership::kJoined)
      broker_->presence_join(sub.channel, session.id, client, sub.presence);
    else
      broker_->presence_leave(sub.channel, session.id, client);
    return;
  }
  tell_presence_subscribers(sub.channel, change == Membership::kJoined ? "join" : "leave",
                            session.id, client);
}

void HubCore::on_presence(const std::string& channel, const char* op, uint64_t id,
                          const std::string& client) {
  tell_presence_subscribers(channel, op, id, client);
}

void HubCore::tell_presence_subscribers(const std::string& channel, const char* op, uint64_t id,
                                        const std::string& client) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  Frame frames[kMaxTransports];
  for (Subscription* other : it->second) {
    if (other->session->id == id || !other->presence || other->pending || other->removed) continue;
    Session& to = *other->session;
    Frame& frame = frames[to.kind().index()];
    if (!frame) frame = codec::make_frame(to.kind(), codec::presence_event(op, channel, client));
    Outbound item;
    item.frame = frame;
    enqueue(to, std::move(item));
  }
}

void HubCore::presence_clients(const std::string& channel,
                               std::function<void(const std::string*)> done) {
  if (broker_ && broker_->shares_presence()) return broker_->presence_clients(channel, done);
  std::vector<const Session*> members;
  auto it = channels_.find(channel);
  if (it != channels_.end())
    for (const Subscription* sub : it->second)
      if (!sub->pending && !sub->removed) members.push_back(sub->session);
  std::sort(members.begin(), members.end(),
            [](const Session* a, const Session* b) { return a->id < b->id; });
  std::string out = "[";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i) out += ',';
    out += codec::presence_client(members[i]->id, user_of(*members[i]));
  }
  out += ']';
  done(&out);
}

void HubCore::presence_request(Session& session, const std::string& channel,
                               const std::string& ref) {
  uint64_t id = session.id;
  presence_clients(channel, [this, id, channel, ref](const std::string* clients) {
    Session* s = find_session(id);  // it may have gone while the broker worked
    if (!s) return;
    if (!clients)
      return send_error(*s, codec::ErrorCode::kUnavailable, "presence unavailable, try again", ref);
    send_control(*s, codec::presence(channel, *clients, ref));
  });
}

}  // namespace rthub
