// hub.hpp: the C++ API of an rthub node.
//
// A Hub serves WebSocket (/ws), Server-Sent Events (/events) and HTTP (/publish, /metrics,
// /healthz, static files) on one port, and fans every published message out to the subscribers
// of its channel, each message encoded once and shared.
//
// Thread safety: a Hub's public methods may be called from any thread. The hub runs one service
// thread that owns every connection; callbacks into the host run on that thread with no library
// lock held, and must not block it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <vector>

#include "rthub/auth.hpp"
#include "rthub/error.hpp"
#include "rthub/export.h"
#include "rthub/history.hpp"
#include "rthub/message.hpp"

namespace rthub {

struct HubOptions {
  std::string listen_host = "127.0.0.1";  // address to bind; "0.0.0.0" for every interface
  int port = 8080;                        // 0 picks a free port (see Hub::port())
  std::string static_dir;                 // serve files from here at "/", when not empty
  size_t history_size = 1000;             // messages retained per channel
  int history_ttl_seconds = 300;          // and for at most this long
  int heartbeat_seconds = 25;             // a ping on any stream idle this long
  std::string publish_key;                // required as Bearer on POST /publish, when not empty
  size_t max_message_bytes = 64 * 1024;   // WebSocket frames and POST /publish bodies
  size_t max_queue_bytes = 1024 * 1024;   // a session's outbound bound; past it, it is dropped
  size_t max_connections = 0;             // 0: no limit
  size_t max_connections_per_ip = 0;      // 0: no limit
  size_t max_subscriptions = 1024;        // per connection
  int sse_retry_ms = 2000;                // the "retry:" an SSE stream starts with
  // How long GET /poll holds a request with nothing to send; a poller silent for twice this long
  // is forgotten (its subscriptions and queue dropped).
  int poll_timeout_seconds = 25;
  // Service threads, each with its own event loop and connections, all accepting on the one port
  // (SO_REUSEPORT: the kernel spreads new connections). 1 to 64; see docs/ARCHITECTURE.md.
  int shards = 1;

  // Access (see auth.hpp and docs/SECURITY.md).
  std::string jwt_secret;             // when set, every connection needs a valid HS256 token
  bool allow_client_publish = false;  // anonymous clients may publish (no secret configured)
  std::vector<std::string>
      allowed_origins;            // WebSocket/CORS Origin allow list; empty: any; "*": any
  double max_connect_rate = 0;    // new connections per second per client address; 0: no limit
  AuthHooks auth_hooks;           // host decisions, run on the service thread
  std::string tls_cert, tls_key;  // PEM files: serve wss:// and https://

  // Many nodes as one hub (Redis broker). Empty: the in-memory broker.
  std::string redis_url;                     // redis://[:password@]host:port[/db]
  std::vector<std::string> bridge_channels;  // Redis channels whose plain PUBLISHes are ingested
  std::vector<std::string> redis_cluster;    // Redis Cluster seed nodes "host:port"; empty: none

  // Publishes carrying an idempotency key are answered once per key and channel for this long.
  int idempotency_window_seconds = 300;

  // Keys (keyed messages, see PublishOptions::key) a channel may hold; a publish of a new key past
  // it is refused (too_many_keys), never evicting another.
  size_t max_keys = 10000;

  // History beyond memory and Redis (PostgreSQL). Empty conninfo: none.
  std::string postgres_conninfo;              // a libpq connection string or URI
  std::vector<std::string> persist_patterns;  // channels to persist (trailing '*'); empty: all
  int persist_ttl_seconds = 0;                // rows older than this are deleted; 0: kept
  size_t persist_buffer = 100000;             // messages held while PostgreSQL is away
};

// One transport's counts ("ws", "sse", "poll"), the same numbers as its /metrics series.
struct TransportStats {
  std::string name;
  uint64_t connections = 0;  // open now (pollers: those whose state the hub keeps)
  uint64_t accepted = 0;     // since start
  uint64_t reconnects = 0;   // connections that came back asking to resume, since start
  uint64_t fallbacks = 0;    // connections marked as a fallback from another transport
};

// Counters and gauges of a hub, the same numbers as /metrics.
struct HubStats {
  uint64_t connections_ws = 0, connections_sse = 0;                 // open now
  uint64_t accepted_ws = 0, accepted_sse = 0;                       // since start
  uint64_t subscriptions = 0, channels = 0;                         // now
  uint64_t messages_published = 0, deliveries = 0, bytes_sent = 0;  // since start
  uint64_t resumes_recovered = 0, resumes_lost = 0;                 // since start
  uint64_t slow_consumers_dropped = 0;                              // since start
  uint64_t errors = 0;                                              // error objects/statuses sent
  uint64_t history_bytes = 0;                                       // retained now
  uint64_t auth_failures = 0;                                       // refused tokens, since start
  uint64_t reconnects = 0;                                          // connections that resumed
  uint64_t sse_fallbacks = 0;                                       // SSE streams marked fallback
  // Every transport's counts, whatever transports the hub has; the per-transport fields above
  // repeat those of "ws" and "sse".
  std::vector<TransportStats> transports;
  // The counts of the transport named `name`, or null when there is none.
  const TransportStats* transport(std::string_view name) const {
    for (const auto& t : transports)
      if (t.name == name) return &t;
    return nullptr;
  }
};

// Per-publish options beyond channel, type and data.
struct PublishOptions {
  // When not empty (at most 128 bytes): a repeat with the same key on the same channel within the
  // hub's idempotency window is answered with the first one's position and not published again.
  std::string idempotency_key;
  // When not empty (at most 256 bytes of UTF-8): the channel keeps this message as the key's
  // latest, sent to subscribers that ask for a snapshot. With `delete_key` the key is removed (the
  // message is still delivered live, carrying "delete":true).
  std::string key;
  bool delete_key = false;
};

class RTHUB_API Hub {
 public:
  explicit Hub(HubOptions options = {});
  ~Hub();  // stops the hub if running
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Binds the port and starts the service thread. Throws Error (kIo when the port cannot be bound,
  // kState when already started).
  void start();
  // Closes every connection (WebSocket close 1001) and joins the service thread. Idempotent.
  void stop();
  // The bound port, valid after start().
  int port() const;

  // Publishes `data` (JSON text, checked) as `type` on `channel` and waits until the message has
  // its position. Any thread except the service thread's own callbacks, which must use the
  // asynchronous form. Throws Error (kInvalid, kState, kUnavailable: surely not published,
  // kUnknownOutcome: maybe published, retry with the same idempotency key; kTooLarge). A keyed
  // publish refused (a new key past max_keys, or a broker that keeps no keys: Redis) is kInvalid.
  Position publish(const std::string& channel, const std::string& type, const std::string& data,
                   const PublishOptions& options = {});
  // Asynchronous form: checks the arguments (throws Error), queues the message and returns.
  // `done` (may be empty) runs later on the service thread with the outcome.
  using PublishDone = std::function<void(Errc, const Position&)>;
  void publish_async(const std::string& channel, const std::string& type, const std::string& data,
                     PublishDone done, const PublishOptions& options = {});

  HubStats stats() const;

  // Reads a page of `channel`'s persisted history (needs postgres_conninfo) and waits for it:
  // the latest `query.limit` messages, or those before or after `query.seq`, in ascending seq,
  // in the channel's current epoch. The host's call: no auth hook runs. Not from the service
  // thread's callbacks. Throws Error: kInvalid (channel name, limit not 1 to 1,000, or the
  // channel is not persisted), kState (not running), kUnavailable (PostgreSQL unreachable).
  HistoryPage history(const std::string& channel, const HistoryQuery& query = {});

  // Installs the host's auth hooks (auth.hpp); only before start(), else Error(kState).
  void set_auth_hooks(AuthHooks hooks);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The library version, "MAJOR.MINOR.PATCH".
RTHUB_API const char* version() noexcept;

}  // namespace rthub
