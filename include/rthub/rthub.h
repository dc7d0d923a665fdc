/* rthub.h: the C ABI of rthub, a hub that pushes real-time JSON messages to browsers and apps
 * over WebSocket (/ws) and Server-Sent Events (/events), with HTTP publishing (/publish).
 *
 * Thread safety
 *   Every function may be called from any thread unless its comment says otherwise. A hub runs
 *   one service thread of its own (one per shard) that owns every connection. The hub's
 *   callbacks (the auth hooks, rthub_hub_publish_async's completion) run on that thread with no
 *   library lock held, and must not block it. A client's callback runs on the client's thread.
 *
 * Errors
 *   Fallible calls return rthub_err; RTHUB_OK is 0. rthub_strerror() names a code;
 *   rthub_last_error() gives a detail text for the calling thread's last failure. Never use the
 *   text to detect failure.
 *
 * Memory
 *   Strings and buffers passed in are copied before the call returns. Pointers handed out by the
 *   library stay valid as documented per function.
 *
 * Versions of the structs
 *   Options structs begin with `struct_size` and are filled by their _init() function, which the
 *   host calls with the size it was built with: rthub_hub_options_init(&opts, sizeof opts). Fields
 *   are only ever appended. A host built against an older header passes a shorter struct: the
 *   fields it lacks keep their defaults. A host built against a newer header passes a longer one:
 *   _init zeroes the bytes this library does not know, and a call that receives the struct refuses
 *   it (RTHUB_ERR_INVALID) unless they are still zero, rather than ignore a setting. Structs the
 *   library fills (rthub_stats, rthub_client_counters) work the same way: the caller sets
 *   struct_size, and fields past it are left alone. An options struct ends without padding (its
 *   last field pointer-sized), so that an appended field never starts inside an older struct.
 */
#ifndef RTHUB_H
#define RTHUB_H

#include <stddef.h>
#include <stdint.h>

#include "rthub/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RTHUB_VERSION_MAJOR 0
#define RTHUB_VERSION_MINOR 2
#define RTHUB_VERSION_PATCH 0
#define RTHUB_VERSION_STRING "0.2.0"
/* RTHUB_VERSION_NUMBER is MAJOR * 10000 + MINOR * 100 + PATCH: 200 for 0.2.0. */
#define RTHUB_VERSION_NUMBER \
  (RTHUB_VERSION_MAJOR * 10000 + RTHUB_VERSION_MINOR * 100 + RTHUB_VERSION_PATCH)

/* rthub_version returns the library's version as "MAJOR.MINOR.PATCH" (static storage). */
RTHUB_API const char* rthub_version(void);

/* rthub_version_number returns the library's RTHUB_VERSION_NUMBER, for comparing the library a
 * host runs with against the header it was built with. */
RTHUB_API unsigned rthub_version_number(void);

/* rthub_err: the result of every fallible call. */
typedef enum rthub_err {
  RTHUB_OK = 0,
  RTHUB_ERR_INVALID = 1, /* bad argument: NULL handle, bad channel name, invalid JSON, bad option */
  RTHUB_ERR_NOMEM = 2,   /* out of memory */
  RTHUB_ERR_STATE = 3,   /* wrong state: not started, already started, stopped */
  RTHUB_ERR_IO = 4,      /* socket or file failure, e.g. the port cannot be bound */
  RTHUB_ERR_UNAVAILABLE = 5,    /* the broker cannot take the message now */
  RTHUB_ERR_TOO_LARGE = 6,      /* over a size limit */
  RTHUB_ERR_TIMEOUT = 7,        /* a wait ran out */
  RTHUB_ERR_INTERNAL = 8,       /* a bug: please report it */
  RTHUB_ERR_UNKNOWN_OUTCOME = 9 /* a publish may or may not have happened (broker timeout) */
} rthub_err;

/* rthub_strerror names an error code (static storage, never NULL). */
RTHUB_API const char* rthub_strerror(rthub_err err);

/* rthub_last_error gives the detail of the calling thread's last failed call. The text is owned
 * by the library and valid until the thread's next rthub call; "" when there is none. */
RTHUB_API const char* rthub_last_error(void);

/* rthub_hub: an opaque hub node. */
typedef struct rthub_hub rthub_hub;

/* rthub_hub_options: settings of a hub; fill with rthub_hub_options_init() first. String fields
 * are copied by rthub_hub_new(); NULL means the default. */
typedef struct rthub_hub_options {
  uint32_t struct_size;          /* set by _init: the size the host passed it */
  const char* listen_host;       /* default "127.0.0.1"; "0.0.0.0" for every interface */
  int port;                      /* default 8080; 0 picks a free port (rthub_hub_port) */
  const char* static_dir;        /* serve files at "/" from here; NULL: no static files */
  size_t history_size;           /* messages retained per channel, default 1000 */
  int history_ttl_seconds;       /* and for at most this long, default 300 */
  int heartbeat_seconds;         /* ping on streams idle this long, default 25 */
  const char* publish_key;       /* Bearer key for POST /publish; NULL: loopback peers only */
  size_t max_message_bytes;      /* WebSocket frames and publish bodies, default 65536 */
  size_t max_queue_bytes;        /* per-session outbound bound, default 1 MiB */
  size_t max_connections;        /* 0: no limit */
  size_t max_connections_per_ip; /* 0: no limit */
  size_t max_subscriptions;      /* per connection, default 1024 */
  const char* jwt_secret;      /* HS256 secret: every connection needs a valid token; NULL: none */
  int allow_client_publish;    /* non-zero: anonymous WebSocket clients may publish */
  const char* allowed_origins; /* comma-separated Origin allow list ("*" for any); NULL: any */
  double max_connect_rate;     /* new connections per second per address; 0: no limit */
  const char* tls_cert;        /* PEM certificate file: serve https:// and wss:// */
  const char* tls_key;         /* PEM private key file */
  const char*
      redis_url; /* redis://[:password@]host:port[/db]: many nodes as one hub; NULL: in memory */
  const char*
      bridge_channels; /* comma-separated Redis channels whose plain PUBLISHes are ingested */
  int sse_retry_ms;    /* the "retry:" an SSE stream starts with, default 2000 */
  int shards;          /* service threads sharing the port (SO_REUSEPORT), 1-64, default 1 */
  /* Since 0.2: */
  const char* redis_cluster; /* comma-separated Redis Cluster seed nodes "host:port"; NULL: none */
  int idempotency_window_seconds; /* a publish's idempotency key is remembered this long, default
                                     300 */
  const char*
      postgres_conninfo; /* libpq connection string or URI: history in PostgreSQL; NULL: none */
  const char* persist_patterns; /* comma-separated channels to persist (a trailing '*' matches a
                                   prefix); NULL: every channel. Needs postgres_conninfo */
  int persist_ttl_seconds; /* persisted messages older than this are deleted; 0 (default): kept */
  size_t persist_buffer;   /* messages held while PostgreSQL is away, default 100000 */
  size_t max_keys;         /* keys a channel may hold (keyed messages), default 10000; a
                              publish of a new key past it is refused, never evicting one */
  int64_t poll_timeout_seconds; /* GET /poll holds a request this long when there is nothing to
                                   send, default 25; a poller silent twice as long is forgotten */
  /* Add new fields just above here. */
} rthub_hub_options;

/* rthub_hub_options_init fills `options` (struct_size bytes: pass sizeof *options) with the
 * defaults and sets options->struct_size. RTHUB_ERR_INVALID for NULL or a size under 4. */
RTHUB_API rthub_err rthub_hub_options_init(rthub_hub_options* options, size_t struct_size);

/* rthub_hub_new checks the options and creates a hub (not yet serving). `options` may be NULL
 * for the defaults. RTHUB_ERR_INVALID names the first bad option in rthub_last_error(). On
 * success *out owns the hub; free it with rthub_hub_free(). */
RTHUB_API rthub_err rthub_hub_new(const rthub_hub_options* options, rthub_hub** out);

/* rthub_hub_start binds the port and starts the hub's service thread. RTHUB_ERR_IO when the port
 * cannot be bound, RTHUB_ERR_STATE when already started. */
RTHUB_API rthub_err rthub_hub_start(rthub_hub* hub);

/* rthub_hub_stop closes every connection (WebSocket close 1001) and joins the service thread.
 * Stopping a stopped hub is RTHUB_OK. */
RTHUB_API rthub_err rthub_hub_stop(rthub_hub* hub);

/* rthub_hub_free stops the hub if needed and frees it. NULL is a no-op. */
RTHUB_API void rthub_hub_free(rthub_hub* hub);

/* rthub_hub_port gives the bound port of a started hub, or 0. */
RTHUB_API int rthub_hub_port(const rthub_hub* hub);

/* rthub_position: where a message sits in its channel. `epoch` is NUL-terminated. */
typedef struct rthub_position {
  char epoch[64];
  uint64_t seq;
} rthub_position;

/* rthub_hub_publish publishes `data` (data_len bytes of one JSON value, passed through to
 * subscribers untouched) as `type` (NULL: "message") on `channel`. With `out` non-NULL the call
 * waits until the message has its position and stores it; with NULL it returns once the message
 * is queued (its outcome is not reported: see rthub_hub_publish_async). Must not be called with
 * `out` from the hub's own service thread. Errors: RTHUB_ERR_INVALID (channel name, JSON),
 * RTHUB_ERR_TOO_LARGE, RTHUB_ERR_STATE (not started, stopped), and with `out`:
 * RTHUB_ERR_UNAVAILABLE (surely not published), RTHUB_ERR_UNKNOWN_OUTCOME (perhaps published:
 * retry with the same idempotency key). */
RTHUB_API rthub_err rthub_hub_publish(rthub_hub* hub, const char* channel, const char* type,
                                      const char* data, size_t data_len, rthub_position* out);

/* RTHUB_PUBLISH_DELETE_KEY in rthub_publish_options.flags (needs `key`): the message removes its
 * key from the channel's keyed state; it is still delivered live, carrying "delete":true. */
#define RTHUB_PUBLISH_DELETE_KEY 1u

/* rthub_history_direction: which page of a channel's history rthub_hub_history reads. */
typedef enum rthub_history_direction {
  RTHUB_HISTORY_LATEST = 0, /* the latest `limit` messages */
  RTHUB_HISTORY_BEFORE = 1, /* the `limit` messages before `seq` */
  RTHUB_HISTORY_AFTER = 2   /* the `limit` messages after `seq` */
} rthub_history_direction;

/* rthub_hub_history reads a page of `channel`'s persisted history (the hub needs
 * postgres_conninfo) and waits for it. On success *json_out is a NUL-terminated JSON object
 * {"channel":...,"epoch":...,"messages":[...]}, the same text GET /history answers: messages in
 * ascending seq, each the object a subscriber receives. The caller owns *json_out and frees it
 * with rthub_string_free(). `limit` is 1 to 1000. Not from the hub's own service thread.
 * Errors: RTHUB_ERR_INVALID (NULL argument, channel name, direction, limit, or a channel that is
 * not persisted), RTHUB_ERR_STATE (not started), RTHUB_ERR_UNAVAILABLE (PostgreSQL unreachable). */
RTHUB_API rthub_err rthub_hub_history(rthub_hub* hub, const char* channel,
                                      rthub_history_direction direction, uint64_t seq, size_t limit,
                                      char** json_out);

/* rthub_string_free frees a string the library handed to the caller. NULL is a no-op. */
RTHUB_API void rthub_string_free(char* text);

/* rthub_publish_options: settings of one publish; fill with rthub_publish_options_init() first. */
typedef struct rthub_publish_options {
  uint32_t struct_size;        /* set by _init: the size the host passed it */
  const char* idempotency_key; /* at most 128 bytes of UTF-8; NULL or "": none. A repeat with the
                                  same key on the same channel within the hub's
                                  idempotency_window_seconds is answered with the first one's
                                  position and not published again */
  const char* key;             /* keyed message: at most 256 bytes of UTF-8; NULL or "": none. The
                                  channel keeps the latest message of each key and sends them to
                                  subscribers that ask for a snapshot */
  uint64_t flags;              /* RTHUB_PUBLISH_* bits, 0 by default */
  /* Add new fields just above here. */
} rthub_publish_options;

/* rthub_publish_options_init fills `options` (struct_size bytes: pass sizeof *options) with the
 * defaults and sets options->struct_size. RTHUB_ERR_INVALID for NULL or a size under 4. */
RTHUB_API rthub_err rthub_publish_options_init(rthub_publish_options* options, size_t struct_size);

/* rthub_hub_publish_with_options is rthub_hub_publish with per-publish options (NULL: none);
 * the strings in `options` are copied before the call returns. */
RTHUB_API rthub_err rthub_hub_publish_with_options(rthub_hub* hub, const char* channel,
                                                   const char* type, const char* data,
                                                   size_t data_len,
                                                   const rthub_publish_options* options,
                                                   rthub_position* out);

/* rthub_publish_done_fn receives a publish's outcome: RTHUB_OK with the message's position, or
 * RTHUB_ERR_UNAVAILABLE, RTHUB_ERR_UNKNOWN_OUTCOME, RTHUB_ERR_STATE (the hub stopped before
 * taking the message) with `position` NULL. `position` is valid only during the call. */
typedef void (*rthub_publish_done_fn)(rthub_err err, const rthub_position* position,
                                      void* user_data);

/* rthub_hub_publish_async checks and queues a publish like rthub_hub_publish, and returns without
 * waiting; `options` may be NULL. Callable from any thread, the hub's service thread included.
 * When it returns RTHUB_OK, `done` (may be NULL) is called exactly once with the outcome: on the
 * hub's service thread, with no library lock held (it must not block; it may publish again). When
 * the hub stops before the outcome is known, `done` gets RTHUB_ERR_STATE as the hub stops (on its
 * service thread, or on the calling thread if the hub stopped during this call). When this call
 * returns an error (bad argument, hub not running), `done` is not called. */
RTHUB_API rthub_err rthub_hub_publish_async(rthub_hub* hub, const char* channel, const char* type,
                                            const char* data, size_t data_len,
                                            const rthub_publish_options* options,
                                            rthub_publish_done_fn done, void* user_data);

/* rthub_stats: counters and gauges of a hub, the same numbers as GET /metrics. */
typedef struct rthub_stats {
  uint32_t struct_size; /* set by the caller: sizeof(rthub_stats) */
  uint64_t connections_ws, connections_sse;
  uint64_t accepted_ws, accepted_sse;
  uint64_t subscriptions, channels;
  uint64_t messages_published, deliveries, bytes_sent;
  uint64_t resumes_recovered, resumes_lost;
  uint64_t slow_consumers_dropped;
  uint64_t errors;
  uint64_t history_bytes;
  uint64_t auth_failures;
  uint64_t reconnects;
  uint64_t sse_fallbacks;
  /* Add new fields just above here. */
} rthub_stats;

/* rthub_hub_stats fills *out with a snapshot. The caller sets out->struct_size to
 * sizeof(rthub_stats); fields past that size are left alone. */
RTHUB_API rthub_err rthub_hub_stats(const rthub_hub* hub, rthub_stats* out);

/* rthub_transport_stats: one transport's counts, the numbers of its transport="NAME" series in
 * GET /metrics. Transports are named "ws", "sse" and "poll"; new ones need no new struct. */
typedef struct rthub_transport_stats {
  uint32_t struct_size; /* set by the caller: sizeof(rthub_transport_stats) */
  uint64_t connections; /* open now (pollers: those whose state the hub keeps) */
  uint64_t accepted;    /* since start */
  uint64_t reconnects;  /* connections that came back asking to resume, since start */
  uint64_t fallbacks;   /* connections a client marked as a fallback (?fallback=1), since start */
  /* Add new fields just above here. */
} rthub_transport_stats;

/* rthub_hub_transport_stats fills *out with the counts of the transport named `name`. The caller
 * sets out->struct_size. RTHUB_ERR_INVALID for NULL arguments or a name the hub has no
 * transport for. */
RTHUB_API rthub_err rthub_hub_transport_stats(const rthub_hub* hub, const char* name,
                                              rthub_transport_stats* out);

/* ---- Auth hooks -------------------------------------------------------------------------
 * The host decides who may connect, subscribe and publish, beside or instead of JWT rules.
 * Both callbacks run on the hub's service thread with no library lock held; they must not
 * block. A channel decision may be given later, from any thread, through its completion. */

/* rthub_connect_info: a connection asking to open, before its upgrade or stream. Strings are
 * NUL-terminated and valid only during the callback. */
typedef struct rthub_connect_info {
  uint32_t struct_size;  /* sizeof(rthub_connect_info) of the library */
  const char* transport; /* "ws", "sse" or "poll" */
  const char* peer;      /* client address */
  const char* token;     /* from Authorization: Bearer or ?token=; "" when none */
  size_t token_len;
  const char* origin;        /* Origin header; "" when none */
  int token_verified;        /* 1 when the hub's JWT secret verified the token */
  const char* token_subject; /* the verified token's sub; "" otherwise */
} rthub_connect_info;

/* rthub_connect_answer: the callback's answer slot, valid only during the callback. Leaving it
 * unanswered lets the JWT rules decide. */
typedef struct rthub_connect_answer rthub_connect_answer;

/* rthub_connect_accept admits the connection with an identity and rights: arrays of channel
 * patterns (a name, or a prefix ending in '*'; "*" for all). Strings are copied. */
RTHUB_API void rthub_connect_accept(rthub_connect_answer* answer, const char* identity,
                                    const char* const* subscribe, size_t subscribe_count,
                                    const char* const* publish, size_t publish_count);

/* rthub_connect_refuse refuses the connection with HTTP `status` (401 or 403). */
RTHUB_API void rthub_connect_refuse(rthub_connect_answer* answer, int status);

/* rthub_connect_fn: decides a new connection (service thread). */
typedef void (*rthub_connect_fn)(const rthub_connect_info* info, rthub_connect_answer* answer,
                                 void* user_data);

/* What a channel check is about. */
typedef enum rthub_channel_action { RTHUB_SUBSCRIBE = 0, RTHUB_PUBLISH = 1 } rthub_channel_action;

/* rthub_channel_info: a subscribe or client publish to decide; valid until the check is completed
 * (see rthub_channel_check_info). */
typedef struct rthub_channel_info {
  uint32_t struct_size;
  rthub_channel_action action;
  const char* channel;
  const char* identity; /* the connection's identity; "" when anonymous */
  int allowed_by_rules; /* what the JWT or anonymous rules alone answer */
} rthub_channel_info;

/* rthub_channel_check: a pending decision, owned by the library until completed. */
typedef struct rthub_channel_check rthub_channel_check;

/* rthub_channel_check_complete gives the decision (allow non-zero) and frees `check`. Call it
 * exactly once per check, from any thread, during or after the callback. Until it is called the
 * request waits (a subscribe is not answered). */
RTHUB_API rthub_err rthub_channel_check_complete(rthub_channel_check* check, int allow);

/* rthub_channel_check_info gives what `check` is about: the same info the callback received, but
 * valid until rthub_channel_check_complete(), for a host that decides after the callback returned
 * (a binding whose callbacks run later, e.g. Dart's NativeCallable.listener). NULL for NULL. */
RTHUB_API const rthub_channel_info* rthub_channel_check_info(const rthub_channel_check* check);

/* rthub_channel_fn: receives each channel check (service thread). */
typedef void (*rthub_channel_fn)(const rthub_channel_info* info, rthub_channel_check* check,
                                 void* user_data);

/* rthub_hub_set_auth installs the hooks (either may be NULL) before rthub_hub_start;
 * RTHUB_ERR_STATE once started. `user_data` is passed to both, last. */
RTHUB_API rthub_err rthub_hub_set_auth(rthub_hub* hub, rthub_connect_fn on_connect,
                                       rthub_channel_fn on_channel, void* user_data);

/* ---- Client -----------------------------------------------------------------------------
 * A reconnecting client of a hub: WebSocket first, Server-Sent Events when WebSocket cannot
 * pass (a proxy that drops Upgrade), reconnects with exponential backoff and full jitter, a
 * heartbeat watchdog, and exact resume: every message reaches the host once, in order, and a
 * RTHUB_CLIENT_EVENT_RESET event says when missed messages could not be replayed.
 *
 * Threads: a started client runs one thread of its own. Its functions may be called from any
 * thread. Events reach the host in one of two ways, chosen at rthub_client_new():
 *   - a callback (options.on_event), called on the client's thread with no library lock held.
 *     It may call the client's functions; rthub_client_stop() called there only asks the thread to
 *     finish, and rthub_client_free() must not be called there.
 *   - polling, when on_event is NULL: rthub_client_next_event() waits for the next event, and
 *     rthub_client_fd() gives a descriptor that is readable while events wait, for hosts that
 *     cannot take calls on a foreign thread (Go, Dart) or run their own poll loop. */

/* rthub_client: an opaque client. */
typedef struct rthub_client rthub_client;

/* rthub_client_event_kind: what an event reports. */
typedef enum rthub_client_event_kind {
  RTHUB_CLIENT_EVENT_MESSAGE = 0,      /* channel, epoch, seq, type, data, ts_ms */
  RTHUB_CLIENT_EVENT_SUBSCRIBED = 1,   /* channel, epoch and seq (the hub's latest), recovered */
  RTHUB_CLIENT_EVENT_UNSUBSCRIBED = 2, /* channel */
  RTHUB_CLIENT_EVENT_RESET = 3, /* channel, epoch and seq (where it continues), reason: messages
                                   were missed and cannot be replayed; reload the channel's state */
  RTHUB_CLIENT_EVENT_STATE = 4, /* state, transport, reason, attempt, retry_in_ms */
  RTHUB_CLIENT_EVENT_ERROR =
      5, /* code, message; channel and request_id when it answers a request */
  RTHUB_CLIENT_EVENT_PUBLISHED = 6, /* channel, epoch, seq, request_id: a publish was accepted */
  RTHUB_CLIENT_EVENT_SNAPSHOT = 7,  /* channel, epoch, seq (the snapshot's), data (a JSON array of
                                       message objects, the current message of every key, in seq
                                       order), count: the channel's keyed state; replace yours */
  RTHUB_CLIENT_EVENT_PRESENCE = 8,  /* channel, data (a JSON array of {"id","user"}), count,
                                       request_id (0 when asked by the client after a subscribe) */
  RTHUB_CLIENT_EVENT_JOIN = 9,      /* channel, data (the member's {"id","user"}): a member came */
  RTHUB_CLIENT_EVENT_LEAVE = 10     /* channel, data (the member's {"id","user"}): a member went */
} rthub_client_event_kind;

/* rthub_client_state: the connection states a client reports. */
typedef enum rthub_client_state {
  RTHUB_CLIENT_CONNECTING = 0, /* an attempt starts */
  RTHUB_CLIENT_CONNECTED = 1,  /* the transport is open */
  RTHUB_CLIENT_DISCONNECTED =
      2, /* the connection ended or failed; the next attempt is in retry_in_ms */
  RTHUB_CLIENT_FALLBACK = 3, /* a transport cannot pass: switching to the next (transport), from
                                WebSocket to Server-Sent Events, or from SSE to long-polling */
  RTHUB_CLIENT_CLOSED = 4    /* stopped, or gave up after max_attempts retries: no more attempts */
} rthub_client_state;

/* rthub_transport: how a client is connected. */
typedef enum rthub_transport {
  RTHUB_TRANSPORT_NONE = 0,
  RTHUB_TRANSPORT_WS = 1,  /* WebSocket (/ws) */
  RTHUB_TRANSPORT_SSE = 2, /* Server-Sent Events (/events) */
  RTHUB_TRANSPORT_POLL = 3 /* HTTP long-polling (/poll) */
} rthub_transport;

/* rthub_client_event: one event. Every string is given with its length, is also NUL-terminated,
 * is "" (never NULL) when it does not apply, and is valid only as long as the event (see
 * rthub_client_event_fn and rthub_client_next_event). */
typedef struct rthub_client_event {
  uint32_t struct_size; /* sizeof(rthub_client_event) of the library */
  rthub_client_event_kind kind;
  const char* channel;
  size_t channel_len;
  const char* epoch; /* the position: message, subscribed, reset, published */
  size_t epoch_len;
  uint64_t seq;
  const char* type; /* message */
  size_t type_len;
  const char* data; /* message: the publisher's JSON value, byte for byte */
  size_t data_len;
  int64_t ts_ms;             /* message: the hub's publish time, ms since the Unix epoch */
  int recovered;             /* subscribed: 1 resumed, 0 could not resume, -1 no resume was asked */
  rthub_client_state state;  /* state */
  rthub_transport transport; /* state */
  const char* reason;        /* state (disconnected, fallback, closed), reset */
  size_t reason_len;
  uint32_t attempt;    /* state: consecutive failed attempts so far */
  int64_t retry_in_ms; /* state disconnected: delay before the next attempt; -1 none */
  const char* code;    /* error: bad_request, unauthorized, forbidden, too_large, limit, not_found,
                          unavailable, internal, or protocol (the hub sent something unreadable) */
  size_t code_len;
  const char* message; /* error: human readable */
  size_t message_len;
  uint64_t request_id; /* published, error: the id rthub_client_publish gave; 0 otherwise */
  const char* key;     /* message: the key of a keyed message; "" when none */
  size_t key_len;
  int deleted;  /* message: 1 when the message deletes `key` */
  size_t count; /* snapshot: items in data; presence: members in data */
  /* Add new fields just above here. */
} rthub_client_event;

/* rthub_client_event_fn: receives each event on the client's thread; `event` and its strings are
 * valid until the function returns. */
typedef void (*rthub_client_event_fn)(const rthub_client_event* event, void* user_data);

/* rthub_client_options: settings of a client; fill with rthub_client_options_init() first. Strings
 * and the channel array are copied by rthub_client_new(); NULL means the default. */
typedef struct rthub_client_options {
  uint32_t struct_size;        /* set by _init: the size the host passed it */
  const char* url;             /* required: the hub's base URL, http(s)://host:port[/prefix] */
  const char* const* channels; /* channels subscribed from the start; may be NULL */
  size_t channel_count;
  const char* token;        /* sent as "Authorization: Bearer" on /ws and /events; NULL: none */
  const char* publish_key;  /* Bearer key for POST /publish (publishing over SSE); NULL: token */
  int sse_only;             /* non-zero: never try WebSocket (not counted as a fallback) */
  uint32_t backoff_base_ms; /* attempt n waits random(0, min(cap, base * 2^n)); default 500 */
  uint32_t backoff_cap_ms;  /* default 30000 */
  uint32_t max_attempts;    /* retries in a row before giving up (a connection that held 5 s starts
                               the count again); 0 (default): forever */
  int heartbeat_seconds;    /* the hub's heartbeat, default 25 */
  int watchdog_ms;          /* silence that ends a connection; 0 (default): twice the heartbeat */
  int handshake_timeout_ms; /* a handshake unanswered this long fails; default 10000 */
  int websocket_retry_ms;   /* after a fallback, try WebSocket again this often; default 60000 */
  const char* ca_file;      /* PEM CAs trusted for https:// besides the system store; NULL: none */
  int insecure_skip_verify_for_tests; /* non-zero: accept any server certificate. Tests only. */
  size_t max_pending_events;      /* polling: past this many waiting events, reading pauses; default
                                     10000 */
  rthub_client_event_fn on_event; /* NULL: events are polled with rthub_client_next_event() */
  void* user_data;                /* passed to on_event */
  int snapshot;       /* non-zero: `channels` are subscribed with RTHUB_SUBSCRIBE_SNAPSHOT */
  int presence;       /* non-zero: `channels` are subscribed with RTHUB_SUBSCRIBE_PRESENCE */
  int poll_only;      /* non-zero: HTTP long-polling only (/poll), never WebSocket or SSE */
  int sse_silence_ms; /* an event stream that brings nothing this long after it opened is left
                         for long-polling (not with sse_only); default 5000 */
  /* Add new fields just above here. */
} rthub_client_options;

/* rthub_client_options_init fills `options` (struct_size bytes: pass sizeof *options) with the
 * defaults and sets options->struct_size. RTHUB_ERR_INVALID for NULL or a size under 4. */
RTHUB_API rthub_err rthub_client_options_init(rthub_client_options* options, size_t struct_size);

/* rthub_client_new checks the options and creates a client (not yet connecting). RTHUB_ERR_INVALID
 * for a bad URL, channel name or number. On success *out owns the client; free it with
 * rthub_client_free(). */
RTHUB_API rthub_err rthub_client_new(const rthub_client_options* options, rthub_client** out);

/* rthub_client_start starts the client's thread, which connects. RTHUB_ERR_STATE when already
 * started or stopped, RTHUB_ERR_IO when the network layer cannot be set up (e.g. an unreadable
 * ca_file). */
RTHUB_API rthub_err rthub_client_start(rthub_client* client);

/* rthub_client_stop closes the connection, reports RTHUB_CLIENT_CLOSED and joins the client's
 * thread. Stopping a stopped client is RTHUB_OK. Events already waiting can still be polled. */
RTHUB_API rthub_err rthub_client_stop(rthub_client* client);

/* rthub_client_free stops the client if needed and frees it. NULL is a no-op. Not from on_event,
 * and not while another thread still uses the client (e.g. waits in rthub_client_next_event). */
RTHUB_API void rthub_client_free(rthub_client* client);

/* rthub_client_subscribe subscribes to `channel` now and after every reconnect. `since` (may be
 * NULL) continues after a position the host kept; NULL starts at the hub's latest message.
 * Subscribing to a channel already subscribed does nothing. */
RTHUB_API rthub_err rthub_client_subscribe(rthub_client* client, const char* channel,
                                           const rthub_position* since);

/* Flags of rthub_client_subscribe_with. RTHUB_SUBSCRIBE_SNAPSHOT: the channel's keyed state
 * comes first as one SNAPSHOT event (and again after a resume the hub could not honour); then the
 * live messages after it. RTHUB_SUBSCRIBE_PRESENCE: a PRESENCE event with the members after each
 * subscribe, then JOIN and LEAVE events (WebSocket only: an event stream cannot carry them). */
#define RTHUB_SUBSCRIBE_SNAPSHOT 1u
#define RTHUB_SUBSCRIBE_PRESENCE 2u

/* rthub_client_subscribe_with is rthub_client_subscribe with RTHUB_SUBSCRIBE_* `flags`.
 * RTHUB_ERR_INVALID for an unknown flag. */
RTHUB_API rthub_err rthub_client_subscribe_with(rthub_client* client, const char* channel,
                                                const rthub_position* since, uint32_t flags);

/* rthub_client_presence asks for the members of a presence channel; the answer is a PRESENCE (or
 * ERROR) event carrying *request_id (may be NULL). Over SSE or long-polling it is read from
 * GET /presence.
 */
RTHUB_API rthub_err rthub_client_presence(rthub_client* client, const char* channel,
                                          uint64_t* request_id);

/* rthub_client_unsubscribe stops receiving `channel` and forgets its position. */
RTHUB_API rthub_err rthub_client_unsubscribe(rthub_client* client, const char* channel);

/* rthub_client_publish publishes `data` (data_len bytes of one JSON value, sent untouched) as
 * `type` (NULL: "message") on `channel`: over the WebSocket when connected by it (the hub must
 * allow client publishes), else by POST /publish. While disconnected, publishes wait for the next
 * connection. The outcome comes as a PUBLISHED or ERROR event carrying *request_id (may be NULL).
 * RTHUB_ERR_INVALID for a bad channel name or data that is not JSON. */
RTHUB_API rthub_err rthub_client_publish(rthub_client* client, const char* channel,
                                         const char* type, const char* data, size_t data_len,
                                         uint64_t* request_id);

/* rthub_client_publish_keyed is rthub_client_publish with a `key` (1-256 bytes): the message
 * becomes the key's current state. With RTHUB_PUBLISH_DELETE_KEY in `flags` it removes the key;
 * `data` may then be NULL (sent as null). RTHUB_ERR_INVALID also for a bad key or flag. */
RTHUB_API rthub_err rthub_client_publish_keyed(rthub_client* client, const char* channel,
                                               const char* type, const char* data, size_t data_len,
                                               const char* key, uint32_t flags,
                                               uint64_t* request_id);

/* rthub_client_next_event takes the next event, waiting up to `timeout_ms` (negative: forever).
 * *event then points to an event owned by the client, valid until the next call of this function
 * on the same client or rthub_client_free(); call it from one thread at a time. RTHUB_ERR_TIMEOUT
 * when none came in time (or the client is stopped and drained), RTHUB_ERR_STATE when the client
 * delivers to a callback instead. */
RTHUB_API rthub_err rthub_client_next_event(rthub_client* client, int timeout_ms,
                                            const rthub_client_event** event);

/* rthub_client_fd gives a descriptor that is readable while events wait to be polled
 * (level-triggered: it stays readable until rthub_client_next_event has taken them all). Owned by
 * the client: only poll it. -1 when the client delivers to a callback, or for NULL. */
RTHUB_API int rthub_client_fd(const rthub_client* client);

/* rthub_client_counters: a client's own counters. */
typedef struct rthub_client_counters {
  uint32_t struct_size;        /* set by the caller: sizeof(rthub_client_counters) */
  uint64_t connects;           /* connections opened */
  uint64_t reconnects;         /* connections opened after a previous one was lost */
  uint64_t fallbacks;          /* switches from WebSocket to SSE */
  uint64_t messages;           /* messages handed to the host */
  uint64_t duplicates_dropped; /* messages at or before a channel's position, not handed over */
  uint64_t resets;             /* RESET events */
  uint64_t watchdog_timeouts;  /* connections dropped for silence */
  uint64_t snapshots;          /* SNAPSHOT events */
  /* Add new fields just above here. */
} rthub_client_counters;

/* rthub_client_get_counters fills *out with a snapshot. The caller sets out->struct_size to
 * sizeof(rthub_client_counters); fields past that size are left alone. */
RTHUB_API rthub_err rthub_client_get_counters(const rthub_client* client,
                                              rthub_client_counters* out);

/* rthub_client_state_name names a state ("connecting", "connected", "disconnected", "fallback",
 * "closed"; static storage). */
RTHUB_API const char* rthub_client_state_name(rthub_client_state state);

/* rthub_transport_name names a transport ("ws", "sse", "none"; static storage). */
RTHUB_API const char* rthub_transport_name(rthub_transport transport);

#ifdef __cplusplus
}
#endif

#endif /* RTHUB_H */
