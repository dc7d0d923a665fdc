// client.hpp: the reconnecting rthub client, for apps and services that stay subscribed to a hub
// through bad networks and old proxies.
//
// A Client connects to a hub's base URL (http(s)://host:port[/prefix]) and keeps its channels
// (docs/CLIENT.md has the whole behaviour, shared with the JS module bindings/js/rthub.js):
//
//   - WebSocket first. When the WebSocket does not open (an HTTP error status, a proxy that
//     drops the Upgrade, no answer in time) it tries the channels over Server-Sent Events at once
//     (/events, marked fallback=1 so the hub counts it) and tries WebSocket again now and then.
//     When the event stream fails too, or opens but brings nothing (a proxy that buffers it), it
//     long-polls /poll instead (marked fallback=1 as well).
//   - Reconnects with exponential backoff and full jitter: attempt n waits a random delay in
//     [0, min(cap, base * 2^n)].
//   - A heartbeat watchdog: a connection that brought nothing (message or ping) for twice the
//     hub's heartbeat is treated as dead and replaced.
//   - Exact resume: each channel's position (epoch, seq) is kept, a new connection continues
//     after it, and the host sees every message once, in order. When messages were missed
//     (history gone, hub restarted in memory, a seq gap), a kReset event says so: the host
//     should reload its state.
//   - Keyed state: a channel subscribed with `snapshot` gets the latest message of every key as
//     one kSnapshot event (parts assembled), then the live messages after it; a resume the hub
//     cannot honour brings a fresh kSnapshot. The host replaces its state with the snapshot's
//     items and applies each live message with a key (a `deleted` one removes its key).
//   - Presence: a channel subscribed with `presence` reports its members (kPresence, after each
//     subscribe and for presence(); over SSE or long-polling read from GET /presence) and
//     kJoin / kLeave as others come and go (WebSocket only).
//
// Threads: a started client runs one thread of its own that owns its connections. Its public
// methods may be called from any thread. Events reach the host in one of two ways:
//   - `on_event`, called on the client's thread with no library lock held. It may call the
//     client's methods; there, stop() only asks the thread to finish (it cannot wait for itself),
//     and the Client must not be destroyed from there. A slow callback delays the client.
//   - when no callback is set, next_event() and event_fd(), for hosts that cannot take calls on a
//     foreign thread (Go, Dart) or that run their own poll loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rthub/export.h"
#include "rthub/hub.hpp"
#include "rthub/message.hpp"

namespace rthub {

// How the client is connected.
enum class ClientTransport : uint8_t {
  kNone = 0,
  kWebSocket = 1,    // "ws"
  kEventStream = 2,  // "sse"
  kLongPoll = 3,     // "poll"
};

// The connection states a client reports.
enum class ClientState : uint8_t {
  kConnecting = 0,    // an attempt starts (transport, attempt)
  kConnected = 1,     // the transport is open (transport)
  kDisconnected = 2,  // the connection ended or failed (reason, retry_in_ms)
  kFallback = 3,      // a transport cannot pass: switching to the next one, WebSocket to SSE or
                      // SSE to long-polling (transport: the next one; reason)
  kClosed = 4,        // stopped, or gave up after max_attempts (reason); no more attempts
};

// One key's current message in a snapshot (the message a subscriber received for it).
struct KeyedMessage {
  std::string key;
  uint64_t seq = 0;  // in the snapshot's epoch
  std::string type;
  std::string data;   // the publisher's JSON value, byte for byte
  int64_t ts_ms = 0;  // the hub's publish time (ms since the Unix epoch)
};

// A member of a channel's presence: a connection subscribed to it.
struct PresenceMember {
  uint64_t id = 0;                  // the connection's id on its hub
  std::optional<std::string> user;  // the token's `sub`; none without a token
};

// How to subscribe one channel.
struct SubscribeOptions {
  std::optional<Position> since;  // continue after a position the host kept
  bool snapshot = false;          // get the keyed state first (kSnapshot), and after lost resumes
  bool presence = false;          // get the members (kPresence) and kJoin / kLeave events
};

// A publish's key (docs/PROTOCOL.md, "Keyed messages and snapshots").
struct ClientPublishOptions {
  std::string key;          // 1-256 bytes: the message becomes the key's current state
  bool delete_key = false;  // removes `key` (data may be "", sent as null)
};

struct ClientEvent {
  enum class Kind : uint8_t {
    kMessage = 0,       // channel, position, type, data, ts_ms
    kSubscribed = 1,    // channel, position (the hub's latest), recovered, request_id
    kUnsubscribed = 2,  // channel, request_id
    kReset = 3,         // channel, position (where the channel continues), reason: messages were
                        // missed and cannot be replayed; reload the channel's state
    kState = 4,         // state, transport, reason, attempt, retry_in_ms
    kError = 5,         // code, message; channel and request_id when it answers a request
    kPublished = 6,     // channel, position, request_id: a publish() was accepted
    kSnapshot = 7,      // channel, position (the snapshot's), items, data: the keyed state of a
                        // channel subscribed with `snapshot`; replaces what the host had
    kPresence = 8,      // channel, clients, request_id (0 when the client asked by itself after
                        // a subscribe), data: the members of a presence channel
    kJoin = 9,          // channel, clients (the one who joined), data: another member came
    kLeave = 10,        // channel, clients (the one who left), data: a member went
  };
  Kind kind = Kind::kState;
  std::string channel;
  Position position;
  std::string type;                     // kMessage
  std::string data;                     // kMessage: the publisher's JSON value, byte for byte;
                                        // kSnapshot: the items as a JSON array of message objects;
                                        // kPresence: the members as a JSON array of {"id","user"};
                                        // kJoin, kLeave: the member's {"id","user"} object
  std::string key;                      // kMessage: the key of a keyed message, "" when none
  bool deleted = false;                 // kMessage: the message deletes `key`
  std::vector<KeyedMessage> items;      // kSnapshot: the current message of every key, seq order
  std::vector<PresenceMember> clients;  // kPresence, kJoin, kLeave
  int64_t ts_ms = 0;              // kMessage: the hub's publish time (ms since the Unix epoch)
  std::optional<bool> recovered;  // kSubscribed: absent when no resume position was asked for
  ClientState state = ClientState::kConnecting;        // kState
  ClientTransport transport = ClientTransport::kNone;  // kState
  std::string reason;        // kState (disconnected, fallback, closed), kReset
  uint32_t attempt = 0;      // kState connecting: consecutive failed attempts before this one
  int64_t retry_in_ms = -1;  // kState disconnected: delay before the next attempt, -1: none
  std::string code;          // kError: a protocol code (bad_request, unauthorized, forbidden,
                             // too_large, limit, not_found, unavailable, internal) or
                             // "protocol" when the hub sent something unreadable
  std::string message;       // kError: human readable
  uint64_t request_id = 0;   // the id publish() returned, or 0
};

// A client's own counters.
struct ClientStats {
  uint64_t connects = 0;            // connections opened (either transport)
  uint64_t reconnects = 0;          // connections opened after a previous one was lost
  uint64_t fallbacks = 0;           // steps down that opened: WebSocket to SSE, SSE to long-polling
  uint64_t messages = 0;            // messages handed to the host
  uint64_t duplicates_dropped = 0;  // messages at or before a channel's position, not handed over
  uint64_t resets = 0;              // kReset events
  uint64_t watchdog_timeouts = 0;   // connections dropped for silence
  uint64_t snapshots = 0;           // kSnapshot events (whole snapshots applied)
};

struct ClientOptions {
  std::string url;                    // the hub's base URL: http(s)://host:port[/prefix]
  std::vector<std::string> channels;  // subscribed from the start (more with subscribe())
  std::string token;                  // sent as "Authorization: Bearer" on /ws and /events
  std::string publish_key;            // Bearer key for POST /publish (publishing while on SSE);
                                      // empty: `token`
  bool snapshot = false;              // `channels` are subscribed with a snapshot
  bool presence = false;              // `channels` are subscribed with presence
  bool sse_only = false;              // never try WebSocket (not counted as a fallback)
  bool poll_only = false;             // long-polling only (/poll): never WebSocket or SSE

  // Reconnect backoff: attempt n waits random(0, min(backoff_cap_ms, backoff_base_ms * 2^n)).
  uint32_t backoff_base_ms = 500;
  uint32_t backoff_cap_ms = 30000;
  uint32_t max_attempts = 0;  // retries in a row before giving up (kClosed); a connection that
                              // held 5 s starts the count again. 0: retry forever

  int heartbeat_seconds = 25;        // the hub's heartbeat (its --heartbeat)
  int watchdog_ms = 0;               // silence that ends a connection; 0: twice the heartbeat
  int handshake_timeout_ms = 10000;  // a WebSocket or SSE handshake unanswered this long fails
  int websocket_retry_ms = 60000;    // while on SSE after a fallback, try WebSocket this often
  int sse_silence_ms = 5000;  // an event stream (not sse_only) that brings nothing, not even its
                              // first event, this long after it opened is left for long-polling

  std::string ca_file;  // PEM CA certificates trusted for https://, besides the system store
  // Accept any server certificate (self-signed, wrong name, expired). For tests only: it
  // removes the protection TLS gives.
  bool insecure_skip_verify_for_tests = false;

  size_t max_pending_events = 10000;  // poll mode: past this many waiting events, reading pauses

  // Receives every event on the client's thread. Empty: events wait for next_event().
  std::function<void(const ClientEvent&)> on_event;
};

class RTHUB_API Client {
 public:
  // Checks the options (throws Error kInvalid: bad URL, bad channel name, bad numbers).
  explicit Client(ClientOptions options);
  // Stops the client if it runs. Must not run on the client's own thread (in on_event).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts the client's thread, which connects. Throws Error (kState when already started or
  // stopped, kIo when the network layer cannot be set up).
  void start();
  // Closes the connection, reports kClosed and joins the thread. Idempotent. From on_event it
  // only asks the thread to finish.
  void stop();

  // Subscribes to `channel` now and after every reconnect. `since` continues after a position
  // the host kept (e.g. from an earlier run). Subscribing again to a wanted channel does nothing.
  // Throws Error(kInvalid) for a bad channel name.
  void subscribe(const std::string& channel, const std::optional<Position>& since = std::nullopt);
  // The same with a snapshot and/or presence (SubscribeOptions). Over SSE one stream carries
  // every channel, so when any channel asks for a snapshot the hub sends one for each channel
  // it does not resume; the client passes over those nobody asked for.
  void subscribe(const std::string& channel, const SubscribeOptions& options);
  // Stops receiving `channel` and forgets its position.
  void unsubscribe(const std::string& channel);
  // Publishes `data` (one JSON value, sent untouched) as `type` on `channel`: over the WebSocket
  // when connected by it (the hub must allow client publishes), else by POST /publish. While
  // disconnected, publishes wait (up to 1000) for the next connection. The outcome arrives as
  // kPublished or kError with the returned request id. Throws Error(kInvalid) for a bad channel
  // name or data that is not JSON.
  uint64_t publish(const std::string& channel, const std::string& type, const std::string& data);
  // The same with a key, or deleting a key (`data` may then be "": null). Throws Error(kInvalid)
  // also for a key that is empty or over 256 bytes, or delete_key without a key.
  uint64_t publish(const std::string& channel, const std::string& type, const std::string& data,
                   const ClientPublishOptions& options);
  // Asks for the members of a presence channel. The answer is kPresence (or kError) with the
  // returned id. Over SSE or long-polling (no way back on the stream) it is read from
  // GET /presence. Throws Error(kInvalid) for a bad channel name.
  uint64_t presence(const std::string& channel);

  // Poll mode (no on_event): takes the next event, waiting up to `timeout_ms` (negative:
  // forever). False when none arrived in time, or when the client is stopped and drained.
  // Throws Error(kState) in callback mode.
  bool next_event(ClientEvent& out, int timeout_ms);
  // Poll mode: a descriptor that is readable while events wait (level-triggered); -1 in callback
  // mode. Owned by the client: do not read it or close it.
  int event_fd() const;

  ClientStats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "ws", "sse", "poll" or "none".
RTHUB_API const char* to_string(ClientTransport transport) noexcept;
// "connecting", "connected", "disconnected", "fallback", "closed".
RTHUB_API const char* to_string(ClientState state) noexcept;
// "message", "subscribed", "unsubscribed", "reset", "state", "error", "published", "snapshot",
// "presence", "join", "leave".
RTHUB_API const char* to_string(ClientEvent::Kind kind) noexcept;

}  // namespace rthub
