#include "broker/redis/uv_attach.hpp"

#include <hiredis/async.h>
#include <uv.h>

namespace rthub {
namespace {

// Lives from attach until libuv has closed the poll handle (after hiredis' cleanup call).
struct Events {
  uv_poll_t poll;
  redisAsyncContext* ctx;  // nullptr once hiredis cleaned up
  int wanted = 0;          // UV_READABLE | UV_WRITABLE, as hiredis asked
};

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* e = static_cast<Events*>(handle->data);
  if (status < 0) {
    // libuv has stopped the poll. Let hiredis find the error: a connecting context checks the
    // socket's error in its write handler, a connected one gets it (or EOF) from read().
    if (e->ctx && !(e->ctx->c.flags & REDIS_CONNECTED))
      redisAsyncHandleWrite(e->ctx);
    else if (e->ctx)
      redisAsyncHandleRead(e->ctx);
    // Not an error after all (hiredis still holds the context): watch again.
    if (e->ctx && e->wanted) uv_poll_start(&e->poll, e->wanted, on_poll);
    return;
  }
  if (e->ctx && (events & UV_READABLE)) redisAsyncHandleRead(e->ctx);
  if (e->ctx && (events & UV_WRITABLE)) redisAsyncHandleWrite(e->ctx);
}

void update(Events* e, int add, int remove) {
  if (!e->ctx) return;
  e->wanted = (e->wanted | add) & ~remove;
  if (e->wanted)
    uv_poll_start(&e->poll, e->wanted, on_poll);
  else
    uv_poll_stop(&e->poll);
}

}  // namespace

bool attach_to_loop(redisAsyncContext* ctx, uv_loop_t* loop) {
  if (ctx->ev.data != nullptr) return false;
  auto* e = new Events;
  e->ctx = ctx;
  if (uv_poll_init(loop, &e->poll, ctx->c.fd) != 0) {
    delete e;
    return false;
  }
  e->poll.data = e;
  ctx->ev.data = e;
  ctx->ev.addRead = [](void* p) { update(static_cast<Events*>(p), UV_READABLE, 0); };
  ctx->ev.delRead = [](void* p) { update(static_cast<Events*>(p), 0, UV_READABLE); };
  ctx->ev.addWrite = [](void* p) { update(static_cast<Events*>(p), UV_WRITABLE, 0); };
  ctx->ev.delWrite = [](void* p) { update(static_cast<Events*>(p), 0, UV_WRITABLE); };
  ctx->ev.cleanup = [](void* p) {
    auto* e = static_cast<Events*>(p);
    e->ctx = nullptr;
    uv_poll_stop(&e->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&e->poll),
             [](uv_handle_t* h) { delete static_cast<Events*>(h->data); });
  };
  return true;
}

}  // namespace rthub
