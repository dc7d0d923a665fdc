// uv_attach.hpp: runs a hiredis async context on a libuv loop, poll errors included.
//
// hiredis 0.14's own libuv adapter (adapters/libuv.h) returns early when libuv reports a poll
// error, and libuv reports one (and stops the poll) for a socket in error: a refused connect, a
// connection reset by a peer that died (kill -9 of a node with unread input sends RST). The
// context then never learns, and its commands wait for a timeout. This adapter hands such an
// error to hiredis instead, which reads the socket's error and disconnects at once: a failover
// shows in milliseconds, not at the next reply timeout.
#pragma once

struct redisAsyncContext;
typedef struct uv_loop_s uv_loop_t;

namespace rthub {

/* attach_to_loop drives ctx from loop until hiredis frees ctx. Returns false when ctx already
   has an event library attached or libuv refuses its descriptor. */
bool attach_to_loop(redisAsyncContext* ctx, uv_loop_t* loop);

}  // namespace rthub
