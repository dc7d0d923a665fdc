#include "transport/poll/poll_session.hpp"

#include "rthub/hub.hpp"
#include "transport/poll/poll_cursor.hpp"
#include "transport/poll/poll_kind.hpp"
#include "transport/poll/poll_request.hpp"

namespace rthub {

namespace {
const char kRoute[] = "/poll";
}

PollSession::PollSession(std::string peer, std::string token, std::vector<std::string> channels)
    : Session(poll_kind(), std::move(peer)),
      token_(std::move(token)),
      channels_(std::move(channels)) {}

void PollSession::want_write() {
  if (held && streaming) held->answer_soon();
}

void PollSession::close(CloseCode, std::string_view) {
  set_closing();
  if (held) held->answer_soon();
}

PollRegistry::~PollRegistry() {
  // The hub is gone or stopped with these still open (its stop grace ran out): nothing to tell.
  for (auto& entry : by_token_) {
    if (entry.second->held) entry.second->held->forget_session();
    delete entry.second;
  }
}

PollRegistry& PollRegistry::of(ServerContext& server) {
  std::shared_ptr<void>& slot = server.route_state[kRoute];
  if (!slot)
    slot = std::make_shared<PollRegistry>(server.host, server.options.poll_timeout_seconds);
  return *static_cast<PollRegistry*>(slot.get());
}

void PollRegistry::tick(ServerContext& server, int64_t now_ms) {
  auto it = server.route_state.find(kRoute);
  if (it != server.route_state.end()) static_cast<PollRegistry*>(it->second.get())->tick_at(now_ms);
}

void PollRegistry::tick_at(int64_t now_ms) {
  // A quarter second is plenty of precision for timeouts of seconds, and spares a scan of every
  // poller per tick.
  constexpr int64_t kScanMs = 250;
  if (now_ms < next_scan_ms_) return;
  next_scan_ms_ = now_ms + kScanMs;
  std::vector<PollSession*> gone;
  for (auto& entry : by_token_) {
    PollSession& s = *entry.second;
    if (s.held) {
      if (now_ms >= s.held_until_ms) s.held->answer_soon(true);
    } else if (s.closing() || now_ms >= s.forget_at_ms) {
      gone.push_back(&s);
    }
  }
  for (PollSession* s : gone) drop(*s);
}

PollSession* PollRegistry::find(const std::string& token) const {
  auto it = by_token_.find(token);
  return it == by_token_.end() ? nullptr : it->second;
}

PollSession& PollRegistry::create(std::string peer, std::vector<std::string> channels) {
  std::string token = poll_cursor::new_token();
  auto* session = new PollSession(std::move(peer), token, std::move(channels));
  by_token_[token] = session;
  host_.attach(*session);
  return *session;
}

void PollRegistry::drop(PollSession& session) {
  by_token_.erase(session.token());
  host_.detach(session);
  delete &session;
}

}  // namespace rthub
