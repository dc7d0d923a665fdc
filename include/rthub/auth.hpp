// auth.hpp: who may connect, subscribe and publish.
//
// A connection carries Rights: from a verified JWT (HS256, HubOptions::jwt_secret), from the
// host's connect hook, or anonymous. Channel patterns are exact names, or a prefix ending in '*'
// ("admin:*"); "*" alone matches every channel.
//
// Threads: the hooks run on the hub's service thread, with no library lock held. They must not
// block it: a channel hook that needs to ask a database answers later through its completion,
// from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rthub/export.h"

namespace rthub {

struct Rights {
  bool anonymous = true;
  std::string identity;                // the token's `sub`, or what the connect hook chose
  std::vector<std::string> subscribe;  // channel patterns the holder may subscribe to
  std::vector<std::string> publish;    // channel patterns the holder may publish to
  int64_t expires_at = 0;              // Unix seconds; 0: never
};

// True when `channel` matches one of `patterns`.
RTHUB_API bool channel_allowed(const std::vector<std::string>& patterns,
                               const std::string& channel);

// What the connect hook sees of a connection before it is upgraded or streamed.
struct ConnectRequest {
  std::string transport;                 // "ws", "sse" or "poll"
  std::string peer;                      // client address
  std::string token;                     // from Authorization: Bearer or ?token=, may be empty
  std::string origin;                    // the Origin header, may be empty
  std::string path;                      // request path
  const Rights* token_rights = nullptr;  // rights of a verified token, else null
};

struct ConnectDecision {
  enum class Verdict { kDefault, kAccept, kRefuse };
  Verdict verdict = Verdict::kDefault;  // kDefault: the JWT rules decide
  Rights rights;                        // with kAccept
  int status = 401;                     // with kRefuse: the HTTP status (401 or 403)
};

// A subscribe or publish to check. `rights` are the connection's.
struct ChannelRequest {
  enum class Action { kSubscribe, kPublish };
  Action action;
  std::string channel;
  Rights rights;
  bool allowed_by_rules = false;  // what the JWT/anonymous rules alone would answer
};

// Decides a channel request; call it exactly once, from any thread, now or later.
using ChannelCompletion = std::function<void(bool allow)>;

struct AuthHooks {
  // Sync: runs before the upgrade (WebSocket) or the stream (SSE).
  std::function<ConnectDecision(const ConnectRequest&)> on_connect;
  // Async: runs for every subscribe and client publish.
  std::function<void(const ChannelRequest&, ChannelCompletion)> on_channel;
};

}  // namespace rthub
