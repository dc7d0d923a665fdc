// hub_core_access.cpp: HubCore's decisions on who may subscribe or publish to a channel, by the
// session's rights and the host's channel hook, and the history reads they guard.
#include "core/hub_core.hpp"

#include <atomic>

namespace rthub {

void HubCore::check_channel(Session& session, ChannelRequest::Action action,
                            const std::string& channel, std::function<void(Session&, bool)> then) {
  const Rights* rights = session.rights.get();
  bool allowed;
  if (action == ChannelRequest::Action::kSubscribe) {
    allowed = !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
  } else {
    allowed = (!rights || rights->anonymous) ? options_.allow_client_publish
                                             : channel_allowed(rights->publish, channel);
  }
  const auto& hook = options_.auth_hooks.on_channel;
  if (!hook || !post_) return then(session, allowed);
  ChannelRequest request{action, channel, rights ? *rights : Rights{}, allowed};
  uint64_t id = session.id;
  auto once = std::make_shared<std::atomic<bool>>(false);
  // The completion may come from any thread, even after this hub stopped: it holds only the
  // poster (whose queue refuses work once the hub is gone), never the core itself.
  ChannelCompletion completion = [post = post_, this, id, then, once](bool allow) {
    if (once->exchange(true)) return;  // a second answer is ignored
    post([this, id, then, allow] {
      if (Session* s = find_session(id)) then(*s, allow);
    });
  };
  try {
    hook(request, completion);
  } catch (...) {  // a host's exception must not unwind through the loop
    completion(false);
  }
}

void HubCore::read_history(const Rights* rights, const std::string& channel,
                           const HistoryQuery& query,
                           std::function<void(bool, HistoryPage&)> done) {
  bool allowed = !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
  auto read = [this, channel, query, done = std::move(done)](bool allow) {
    if (!allow) {
      HistoryPage none;
      none.channel = channel;
      return done(false, none);
    }
    broker_->history_page(channel, query, [done](HistoryPage& page) { done(true, page); });
  };
  const auto& hook = options_.auth_hooks.on_channel;
  if (!hook || !post_) return read(allowed);
  ChannelRequest request{ChannelRequest::Action::kSubscribe, channel, rights ? *rights : Rights{},
                         allowed};
  auto once = std::make_shared<std::atomic<bool>>(false);
  // As in check_channel: the completion holds the poster, never the core.
  ChannelCompletion completion = [post = post_, read, once](bool allow) {
    if (once->exchange(true)) return;
    post([read, allow] { read(allow); });
  };
  try {
    hook(request, completion);
  } catch (...) {
    completion(false);
  }
}

void HubCore::authorize_stream(Session& session, const std::vector<std::string>& channels,
                               std::function<void(bool, const std::string&)> done) {
  struct Pending {
    size_t remaining;
    bool refused = false;
    std::function<void(bool, const std::string&)> done;
  };
  auto pending = std::make_shared<Pending>(Pending{channels.size(), false, std::move(done)});
  for (const auto& channel : channels) {
    check_channel(session, ChannelRequest::Action::kSubscribe, channel,
                  [pending, channel](Session&, bool allow) {
                    if (pending->refused) return;
                    if (!allow) {
                      pending->refused = true;
                      return pending->done(false, channel);
                    }
                    if (--pending->remaining == 0) pending->done(true, {});
                  });
  }
}

bool HubCore::may_subscribe(const Rights* rights, const std::string& channel) const {
  return !rights || rights->anonymous || channel_allowed(rights->subscribe, channel);
}

}  // namespace rthub
