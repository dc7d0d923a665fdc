// uv_attach against the two socket errors hiredis' own libuv adapter drops: a refused connect
// and a connection reset by its peer (what a node killed with unread input sends). Both must
// reach hiredis' callbacks promptly instead of leaving the context waiting.
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include <catch2/catch.hpp>

#include <chrono>

#include "broker/redis/uv_attach.hpp"

namespace {

// A loopback socket bound to a free port; listening when asked.
struct LoopbackSocket {
  int fd = -1;
  int port = 0;
  explicit LoopbackSocket(bool listening) {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    socklen_t size = sizeof(addr);
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0);
    port = ntohs(addr.sin_port);
    if (listening) REQUIRE(listen(fd, 4) == 0);
  }
  ~LoopbackSocket() {
    if (fd >= 0) close(fd);
  }
};

struct Outcome {
  int connect_status = 1;  // 1: not called
  bool disconnected = false;
  bool null_reply = false;
};

// Runs loop until done() or the guard (2 s, far above the milliseconds the events take) expires.
template <typename Done>
void run_until(uv_loop_t* loop, Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_NOWAIT);
    usleep(1000);
  }
}

}  // namespace

TEST_CASE("uv_attach reports a refused connect at once") {
  int port;
  {
    LoopbackSocket bound(false);  // bound but not listening: a connect to it is refused
    port = bound.port;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  Outcome outcome;
  redisAsyncContext* ctx = redisAsyncConnect("127.0.0.1", port);
  REQUIRE(ctx);
  if (ctx->err) {
    redisAsyncFree(ctx);  // refused before the loop ran: nothing to watch
    SUCCEED("refused synchronously");
  } else {
    REQUIRE(rthub::attach_to_loop(ctx, &loop));
    ctx->data = &outcome;
    redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
      static_cast<Outcome*>(c->data)->connect_status = status;
    });
    run_until(&loop, [&] { return outcome.connect_status != 1; });
    CHECK(outcome.connect_status == REDIS_ERR);
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // closes the poll handle
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("uv_attach reports a reset connection with the commands it carried") {
  LoopbackSocket server(true);
  uv_loop_t loop;
  uv_loop_init(&loop);
  Outcome outcome;
  redisAsyncContext* ctx = redisAsyncConnect("127.0.0.1", server.port);
  REQUIRE(ctx);
  REQUIRE(ctx->err == 0);
  REQUIRE(rthub::attach_to_loop(ctx, &loop));
  ctx->data = &outcome;
  redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
    static_cast<Outcome*>(c->data)->connect_status = status;
  });
  redisAsyncSetDisconnectCallback(ctx, [](const redisAsyncContext* c, int) {
    static_cast<Outcome*>(c->data)->disconnected = true;
  });
  redisAsyncCommand(
      ctx,
      [](redisAsyncContext*, void* reply, void* privdata) {
        if (!reply) static_cast<Outcome*>(privdata)->null_reply = true;
      },
      &outcome, "PING");
  run_until(&loop, [&] { return outcome.connect_status != 1; });
  REQUIRE(outcome.connect_status == REDIS_OK);
  int peer = accept(server.fd, nullptr, nullptr);
  REQUIRE(peer >= 0);
  // Let the PING arrive unread, then close with linger 0: the kernel sends RST, as it does for
  // the sockets of a process killed with input pending.
  run_until(&loop, [&] {
    int unread = 0;
    return ioctl(peer, FIONREAD, &unread) == 0 && unread > 0;
  });
  linger hard{1, 0};
  REQUIRE(setsockopt(peer, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard)) == 0);
  close(peer);
  run_until(&loop, [&] { return outcome.disconnected; });
  CHECK(outcome.null_reply);
  CHECK(outcome.disconnected);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
