// lws_glue.hpp: what the transports share on top of libwebsockets: the per-connection slot and
// small helpers. Only files under lib/transport include this.
#pragma once

#include <libwebsockets.h>

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "rthub/auth.hpp"

#include <string>
#include <utility>
#include <vector>

namespace rthub {

class WsSession;
class HttpStream;
class SessionHost;
class LwsSession;
class HttpExchange;
class FrameGuard;
class HubCore;
struct Metrics;
struct HubOptions;

// The per-connection data libwebsockets allocates for us: one pointer to what the connection is.
struct ConnectionSlot {
  WsSession* ws;
  HttpStream* stream;  // a request served by a transport's HTTP route (http_route.hpp)
  HttpExchange* http;
  std::shared_ptr<const Rights>* admitted;  // rights granted before the upgrade, until ESTABLISHED
};

// What transports need from the server, reachable from any wsi through the context user pointer.
struct ServerContext {
  const HubOptions& options;
  HubCore& core;      // for the HTTP API (publish, history, metrics)
  SessionHost& host;  // the hub as the transports see it
  Metrics& metrics;
  std::vector<unsigned char>& scratch;  // LWS_PRE + batch bytes, reused by every write
  std::function<bool()> broker_ready;
  std::function<void()> on_wake;
  std::function<void(std::string&)> broker_metrics;
  // Every live HttpExchange: libwebsockets does not end every connection with a callback at
  // context teardown, so the server deletes the ones left after it.
  std::unordered_set<HttpExchange*> exchanges;
  // Sessions with frames to write once the loop has handled the events at hand.
  std::vector<LwsSession*> flush_list;
  // Exchanges whose answer is written at the end of the iteration, before the flush list.
  std::vector<HttpExchange*> answer_list;
  std::string id_line;  // an SSE event's id line, rebuilt per event
  // How long a closing connection may take to see its close frame (or stream end) out before its
  // TCP connection is dropped.
  int close_timeout_secs = 3;
  // While the hub stops, the stop deadline ends every connection still open; closing sessions
  // then set no timeout of their own: lws keeps timeouts in one sorted list with linear inserts,
  // so 15,000 of them at once cost seconds of CPU before the first close frame is written.
  bool stopping = false;
  FrameGuard* frame_guard = nullptr;  // checks ws:// frame headers before lws reads them
  // What an HTTP route keeps per service thread beyond one connection (pollers' state), by path.
  std::unordered_map<std::string, std::shared_ptr<void>> route_state{};
};

constexpr size_t kWriteBatchBytes = 64 * 1024;

inline ServerContext& server_of(struct lws* wsi) {
  return *static_cast<ServerContext*>(lws_context_user(lws_get_context(wsi)));
}

// The peer's address as text ("127.0.0.1", "::1").
std::string peer_address(struct lws* wsi);
// A request header by token, or empty.
std::string header(struct lws* wsi, enum lws_token_indexes token);
// A header lws has no token for ("last-event-id:"), or empty.
std::string custom_header(struct lws* wsi, const char* name_with_colon);
// Every value of the query parameter `name` (URL-decoded), in order.
std::vector<std::string> query_values(struct lws* wsi, const char* name);
// What the gatekeeper needs to know of a connection: peer, token (Authorization: Bearer, else
// ?token=), Origin and path.
ConnectRequest connect_request(struct lws* wsi, const char* transport, const std::string& path);
// The CORS fields (name, value) of an answer to a request from `origin`: none when it has no
// Origin or one not allowed.
std::vector<std::pair<const char*, std::string>> cors_fields(const HubOptions& options,
                                                             const std::string& origin);
// Adds CORS headers when the request has an allowed Origin. Non-zero when out of room.
int add_cors_headers(struct lws* wsi, const HubOptions& options, unsigned char** p,
                     unsigned char* end);
// The same for an Origin read earlier (the request's headers may be gone by the answer).
int add_cors_headers_for(struct lws* wsi, const HubOptions& options, const std::string& origin,
                         unsigned char** p, unsigned char* end);
// Writes a whole answer: status, Content-Type, Content-Length, Cache-Control: no-store, what
// `more_headers` adds (non-zero when out of room), then `body`. Over HTTP/1.1 headers and body
// go out in one write: one send(), so the peer wakes once rather than for each. Non-zero when
// the headers did not fit or the write failed.
int write_http_answer(
    struct lws* wsi, unsigned int status, const char* content_type, const std::string& body,
    const std::function<int(unsigned char** p, unsigned char* end)>& more_headers);

}  // namespace rthub
