# More black-box integration tests, included from CMakeLists.txt of this
# directory (each name is <name>.test.mjs here, run like the others).
# They need, beside node/ws/eventsource/curl: redis-server and redis-cli
# (redis_nodes, nginx_two_nodes), nginx from nginx-light (nginx_two_nodes,
# which skips itself with a message when /usr/sbin/nginx is missing), and
# openssl (tls).
set(RTHUB_INTEGRATION_EXTRA_TESTS redis_nodes nginx_two_nodes auth tls hostile backpressure heartbeat pipelining shards)
# idempotency: keyed publishes and publish outcomes, with redis-server frozen by SIGSTOP.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS idempotency)
# redis_faults: Redis frozen by SIGSTOP (health, reconnects) and links cut by CLIENT KILL (gap fills wait).
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_faults)
# redis_routing: per-channel SUBSCRIBE (messages-in flat without subscribers, join window filled), batching, EVALSHA.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_routing)
# redis_bridge: kill -9 of the ingesting node while a backend publishes 100/s: exactly once, in order.
list(APPEND RTHUB_INTEGRATION_EXTRA_TESTS redis_bridge)
