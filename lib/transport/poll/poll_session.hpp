// poll_session.hpp: a long-poller's state on the hub, kept between its requests: a Session with
// its subscriptions and queue, named by a random token that travels in the poll cursor.
//
// A state serves one request at a time. It is forgotten (detached, its queue dropped) when no
// request comes within two poll timeouts of the last answer, when it is closed (slow consumer,
// token expiry, hub stopping), or when its client comes back with another cursor.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "rthub/transport.hpp"
#include "transport/lws_glue.hpp"

namespace rthub {

class PollRequest;

class PollSession final : public Session {
 public:
  PollSession(std::string peer, std::string token, std::vector<std::string> channels);

  // A held request is answered on its next writable callback.
  void want_write() override;
  // Ends the held request (if any) with what was written so far; the state goes on the next tick.
  void close(CloseCode code, std::string_view reason) override;

  const std::string& token() const { return token_; }
  const std::vector<std::string>& channels() const { return channels_; }
  // The positions part of the cursor the last answer gave (what the next poll must bring).
  std::string answered_positions;
  // Subscriptions opened (the hub authorized the channels and was asked for them).
  bool streaming = false;
  // The request being held, or null.
  PollRequest* held = nullptr;
  int64_t held_until_ms = 0;  // when the held request is answered empty
  int64_t forget_at_ms = 0;   // with no request held: when the state is dropped

 private:
  std::string token_;
  std::vector<std::string> channels_;
};

// The pollers of one service thread.
class PollRegistry {
 public:
  PollRegistry(SessionHost& host, int timeout_seconds)
      : host_(host), timeout_ms_(int64_t(timeout_seconds) * 1000) {}
  ~PollRegistry();
  PollRegistry(const PollRegistry&) = delete;
  PollRegistry& operator=(const PollRegistry&) = delete;

  // The registry of `server`'s service thread, made on first use.
  static PollRegistry& of(ServerContext& server);
  // Every HubCore::kTickMs: answers held requests that timed out, drops forgotten states.
  static void tick(ServerContext& server, int64_t now_ms);

  SessionHost& host() { return host_; }
  int64_t timeout_ms() const { return timeout_ms_; }
  PollSession* find(const std::string& token) const;
  // A new state, attached to the hub.
  PollSession& create(std::string peer, std::vector<std::string> channels);
  // Detaches and deletes `session`, which holds no request.
  void drop(PollSession& session);

 private:
  void tick_at(int64_t now_ms);
  SessionHost& host_;
  int64_t timeout_ms_;
  int64_t next_scan_ms_ = 0;
  std::unordered_map<std::string, PollSession*> by_token_;
};

}  // namespace rthub
