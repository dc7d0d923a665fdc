// shared_listener.hpp: a listening socket that several shards open on one port (SO_REUSEPORT),
// each in its own event loop; the kernel spreads new connections over them.
//
// libwebsockets 4.1 sets SO_REUSEPORT on its own listener only when built with several service
// threads (LWS_MAX_SMP > 1, not Debian's build), so a shard listens itself and hands each
// accepted connection to its lws vhost, which then serves it exactly as one it accepted.
#pragma once

#include <libwebsockets.h>
#include <uv.h>

#include <string>

namespace rthub {

class SharedListener {
 public:
  SharedListener() = default;
  ~SharedListener();
  SharedListener(const SharedListener&) = delete;
  SharedListener& operator=(const SharedListener&) = delete;

  // Binds host:port (port 0: any) with SO_REUSEPORT and listens; throws Error(kIo).
  void open(const std::string& host, int port);
  int port() const { return port_; }
  // Starts accepting on `loop` into `vhost`.
  void start(uv_loop_t* loop, struct lws_vhost* vhost);
  // Accepts again after running out of descriptors paused it.
  void resume();
  // Stops accepting and closes the socket (the poll handle closes through the loop).
  void close();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);

  int fd_ = -1;
  int port_ = 0;
  uv_poll_t* poll_ = nullptr;
  struct lws_vhost* vhost_ = nullptr;
  bool paused_ = false;
};

}  // namespace rthub
