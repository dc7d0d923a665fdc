# More black-box integration tests, included from CMakeLists.txt of this
# directory (each name is <name>.test.mjs here, run like the others).
# They need, beside node/ws/eventsource/curl: redis-server and redis-cli
# (redis_nodes, nginx_two_nodes), nginx from nginx-light (nginx_two_nodes,
# which fails with a message naming the package when /usr/sbin/nginx is missing), and
# openssl (tls).
set(RTHUB_INTEGRATION_EXTRA_TESTS redis_nodes nginx_two_nodes auth tls hostile backpressure heartbeat pipelining shards)
# idempotency: keyed publishes and publish outcomes, with redis-server frozen by SIGSTOP.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS idempotency)
# fd_exhaustion: rthub-server under `ulimit -n 128` offered 200 connections: 503s, no spin, one log line.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS fd_exhaustion)
# rfc6455: raw-socket framing cases: unmasked frames (1002), versions other than 13 (426), 2^62-byte headers (1009), fragments, close handshake.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS rfc6455)
# shutdown_scale: SIGTERM with 15,000 connections held by 4 child processes (lib/crowd.mjs): 1001 for all, SSE ends, exit in the grace.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS shutdown_scale)
# keyed_state: keyed messages, snapshots (late joiners on WS and SSE, a race with 500 publishes),
# --max-keys (one node, memory).
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS keyed_state)
# redis_keyed_state: keyed state and snapshots across two Redis nodes (late joiners, a race with 500 publishes, --max-keys, bridged keys).
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_keyed_state)
# presence: join/leave events, the presence op and GET /presence on one node; refused with shards.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS presence)
# postgres_history: history in PostgreSQL (initdb/pg_ctl of Debian's postgresql, run as `postgres`).
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS postgres_history)
# redis_faults: Redis frozen by SIGSTOP (health, reconnects) and links cut by CLIENT KILL (gap fills wait).
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_faults)
# redis_routing: per-channel SUBSCRIBE (messages-in flat without subscribers, join window filled), batching, EVALSHA.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_routing)
# redis_bridge: kill -9 of the ingesting node while a backend publishes 100/s: exactly once, in order.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_bridge)
# redis_cluster_hubs: two hubs on a six-process Redis Cluster (--redis-cluster): sharded delivery, resume, a master killed while publishing.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_cluster_hubs)
# poll: long-polling at /poll: holding, timeouts, forgetting, SSE <-> poll moves, the 1 MiB cap, bad input.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS poll)
# redis_failover_epoch: a primary dies with writes its replica lacks, the replica takes its address; every node's subscribers get recovered:false and a new epoch, then every message once.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_failover_epoch)
# postgres_keyed_state: keyed state with --postgres: snapshots, --max-keys, a restart (SIGTERM, kill -9) rebuilding the same snapshot; Redis mode.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS postgres_keyed_state)
# redis_presence: presence across two Redis nodes: joins/leaves both ways, GET /presence on either, kill -9 of a node.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_presence)
# publish_connection: POST /publish read by the hub itself: keep-alive, 1,000 pipelined in one write,
# the hand-over to libwebsockets, refusals, heads byte by byte, Connection: close, the 10 s stall bound.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS publish_connection)
