/* rthub.h: the C ABI of rthub, a hub that pushes real-time JSON messages to browsers and apps
 * over WebSocket (/ws) and Server-Sent Events (/events), with HTTP publishing (/publish).
 *
 * Thread safety
 *   Every function may be called from any thread unless its comment says otherwise. A hub runs
 *   one service thread of its own that owns every connection; callbacks (none in this version
 *   of the hub API) run on that thread with no library lock held.
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
 * Options structs begin with `struct_size` and are filled by their _init() function; fields are
 * only ever appended, so a host built against an older header keeps working.
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
#define RTHUB_VERSION_MINOR 1
#define RTHUB_VERSION_PATCH 0
#define RTHUB_VERSION_STRING "0.1.0"

/* rthub_version returns the library's version as "MAJOR.MINOR.PATCH" (static storage). */
RTHUB_API const char *rthub_version(void);

/* rthub_err: the result of every fallible call. */
typedef enum rthub_err {
  RTHUB_OK = 0,
  RTHUB_ERR_INVALID = 1,     /* bad argument: NULL handle, bad channel name, invalid JSON, bad option */
  RTHUB_ERR_NOMEM = 2,       /* out of memory */
  RTHUB_ERR_STATE = 3,       /* wrong state: not started, already started, stopped */
  RTHUB_ERR_IO = 4,          /* socket or file failure, e.g. the port cannot be bound */
  RTHUB_ERR_UNAVAILABLE = 5, /* the broker cannot take the message now */
  RTHUB_ERR_TOO_LARGE = 6,   /* over a size limit */
  RTHUB_ERR_TIMEOUT = 7,     /* a wait ran out */
  RTHUB_ERR_INTERNAL = 8     /* a bug: please report it */
} rthub_err;

/* rthub_strerror names an error code (static storage, never NULL). */
RTHUB_API const char *rthub_strerror(rthub_err err);

/* rthub_last_error gives the detail of the calling thread's last failed call. The text is owned
 * by the library and valid until the thread's next rthub call; "" when there is none. */
RTHUB_API const char *rthub_last_error(void);

/* rthub_hub: an opaque hub node. */
typedef struct rthub_hub rthub_hub;

/* rthub_hub_options: settings of a hub; fill with rthub_hub_options_init() first. String fields
 * are copied by rthub_hub_new(); NULL means the default. */
typedef struct rthub_hub_options {
  uint32_t struct_size;          /* set by _init: sizeof(rthub_hub_options) */
  const char *listen_host;       /* default "127.0.0.1"; "0.0.0.0" for every interface */
  int port;                      /* default 8080; 0 picks a free port (rthub_hub_port) */
  const char *static_dir;        /* serve files at "/" from here; NULL: no static files */
  size_t history_size;           /* messages retained per channel, default 1000 */
  int history_ttl_seconds;       /* and for at most this long, default 300 */
  int heartbeat_seconds;         /* ping on streams idle this long, default 25 */
  const char *publish_key;       /* Bearer key for POST /publish; NULL: loopback peers only */
  size_t max_message_bytes;      /* WebSocket frames and publish bodies, default 65536 */
  size_t max_queue_bytes;        /* per-session outbound bound, default 1 MiB */
  size_t max_connections;        /* 0: no limit */
  size_t max_connections_per_ip; /* 0: no limit */
  size_t max_subscriptions;      /* per connection, default 1024 */
  const char *jwt_secret;        /* HS256 secret: every connection needs a valid token; NULL: none */
  int allow_client_publish;      /* non-zero: anonymous WebSocket clients may publish */
  const char *allowed_origins;   /* comma-separated Origin allow list ("*" for any); NULL: any */
  double max_connect_rate;       /* new connections per second per address; 0: no limit */
  const char *tls_cert;          /* PEM certificate file: serve https:// and wss:// */
  const char *tls_key;           /* PEM private key file */
  const char *redis_url;         /* redis://[:password@]host:port[/db]: many nodes as one hub; NULL: in memory */
  const char *bridge_channels;   /* comma-separated Redis channels whose plain PUBLISHes are ingested */
  int sse_retry_ms;              /* the "retry:" an SSE stream starts with, default 2000 */
  /* Add new fields just above here. */
} rthub_hub_options;

/* rthub_hub_options_init fills `options` with the defaults and sets struct_size. */
RTHUB_API void rthub_hub_options_init(rthub_hub_options *options);

/* rthub_hub_new creates a hub (not yet serving). `options` may be NULL for the defaults. On
 * success *out owns the hub; free it with rthub_hub_free(). */
RTHUB_API rthub_err rthub_hub_new(const rthub_hub_options *options, rthub_hub **out);

/* rthub_hub_start binds the port and starts the hub's service thread. RTHUB_ERR_IO when the port
 * cannot be bound, RTHUB_ERR_STATE when already started. */
RTHUB_API rthub_err rthub_hub_start(rthub_hub *hub);

/* rthub_hub_stop closes every connection (WebSocket close 1001) and joins the service thread.
 * Stopping a stopped hub is RTHUB_OK. */
RTHUB_API rthub_err rthub_hub_stop(rthub_hub *hub);

/* rthub_hub_free stops the hub if needed and frees it. NULL is a no-op. */
RTHUB_API void rthub_hub_free(rthub_hub *hub);

/* rthub_hub_port gives the bound port of a started hub, or 0. */
RTHUB_API int rthub_hub_port(const rthub_hub *hub);

/* rthub_position: where a message sits in its channel. `epoch` is NUL-terminated. */
typedef struct rthub_position {
  char epoch[64];
  uint64_t seq;
} rthub_position;

/* rthub_hub_publish publishes `data` (data_len bytes of one JSON value, passed through to
 * subscribers untouched) as `type` (NULL: "message") on `channel`. With `out` non-NULL the call
 * waits until the message has its position and stores it; with NULL it returns once the message
 * is queued. Must not be called with `out` from the hub's own service thread. */
RTHUB_API rthub_err rthub_hub_publish(rthub_hub *hub, const char *channel, const char *type, const char *data,
                                      size_t data_len, rthub_position *out);

/* rthub_stats: counters and gauges of a hub, the same numbers as GET /metrics. */
typedef struct rthub_stats {
  uint32_t struct_size; /* set by the caller: sizeof(rthub_hub_stats) */
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
RTHUB_API rthub_err rthub_hub_stats(const rthub_hub *hub, rthub_stats *out);

/* ---- Auth hooks -------------------------------------------------------------------------
 * The host decides who may connect, subscribe and publish, beside or instead of JWT rules.
 * Both callbacks run on the hub's service thread with no library lock held; they must not
 * block. A channel decision may be given later, from any thread, through its completion. */

/* rthub_connect_info: a connection asking to open, before its upgrade or stream. Strings are
 * NUL-terminated and valid only during the callback. */
typedef struct rthub_connect_info {
  uint32_t struct_size;      /* sizeof(rthub_connect_info) of the library */
  const char *transport;     /* "ws" or "sse" */
  const char *peer;          /* client address */
  const char *token;         /* from Authorization: Bearer or ?token=; "" when none */
  size_t token_len;
  const char *origin;        /* Origin header; "" when none */
  int token_verified;        /* 1 when the hub's JWT secret verified the token */
  const char *token_subject; /* the verified token's sub; "" otherwise */
} rthub_connect_info;

/* rthub_connect_answer: the callback's answer slot, valid only during the callback. Leaving it
 * unanswered lets the JWT rules decide. */
typedef struct rthub_connect_answer rthub_connect_answer;

/* rthub_connect_accept admits the connection with an identity and rights: arrays of channel
 * patterns (a name, or a prefix ending in '*'; "*" for all). Strings are copied. */
RTHUB_API void rthub_connect_accept(rthub_connect_answer *answer, const char *identity, const char *const *subscribe,
                                    size_t subscribe_count, const char *const *publish, size_t publish_count);

/* rthub_connect_refuse refuses the connection with HTTP `status` (401 or 403). */
RTHUB_API void rthub_connect_refuse(rthub_connect_answer *answer, int status);

/* rthub_connect_fn: decides a new connection (service thread). */
typedef void (*rthub_connect_fn)(const rthub_connect_info *info, rthub_connect_answer *answer, void *user_data);

/* What a channel check is about. */
typedef enum rthub_channel_action { RTHUB_SUBSCRIBE = 0, RTHUB_PUBLISH = 1 } rthub_channel_action;

/* rthub_channel_info: a subscribe or client publish to decide; strings valid during the callback. */
typedef struct rthub_channel_info {
  uint32_t struct_size;
  rthub_channel_action action;
  const char *channel;
  const char *identity;   /* the connection's identity; "" when anonymous */
  int allowed_by_rules;   /* what the JWT or anonymous rules alone answer */
} rthub_channel_info;

/* rthub_channel_check: a pending decision, owned by the library until completed. */
typedef struct rthub_channel_check rthub_channel_check;

/* rthub_channel_check_complete gives the decision (allow non-zero) and frees `check`. Call it
 * exactly once per check, from any thread, during or after the callback. Until it is called the
 * request waits (a subscribe is not answered). */
RTHUB_API rthub_err rthub_channel_check_complete(rthub_channel_check *check, int allow);

/* rthub_channel_fn: receives each channel check (service thread). */
typedef void (*rthub_channel_fn)(const rthub_channel_info *info, rthub_channel_check *check, void *user_data);

/* rthub_hub_set_auth installs the hooks (either may be NULL) before rthub_hub_start;
 * RTHUB_ERR_STATE once started. `user_data` is passed to both, last. */
RTHUB_API rthub_err rthub_hub_set_auth(rthub_hub *hub, rthub_connect_fn on_connect, rthub_channel_fn on_channel,
                                       void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* RTHUB_H */
