// hub_core_presence.cpp: HubCore's presence: the join and leave events sent to the subscribers
// that asked for them, and the list of a channel's clients.
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

void HubCore::announce(const Subscription& sub, const char* op) {
  auto it = channels_.find(sub.channel);
  if (it == channels_.end()) return;
  Frame frames[kMaxTransports];
  for (Subscription* other : it->second) {
    if (other == &sub || !other->presence || other->pending || other->removed) continue;
    Session& to = *other->session;
    Frame& frame = frames[to.kind().index()];
    if (!frame) {
      std::string client = codec::presence_client(sub.session->id, user_of(*sub.session));
      frame = codec::make_frame(to.kind(), codec::presence_event(op, sub.channel, client));
    }
    Outbound item;
    item.frame = frame;
    enqueue(to, std::move(item));
  }
}

std::string HubCore::presence_clients(const std::string& channel) const {
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
  return out;
}

void HubCore::presence_request(Session& session, const std::string& channel,
                               const std::string& ref) {
  send_control(session, codec::presence(channel, presence_clients(channel), ref));
}

}  // namespace rthub
