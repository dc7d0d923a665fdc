// shared_listener.hpp: the hub's listening socket. Every shard opens one on the port
// (SO_REUSEPORT), each in its own event loop; the kernel spreads new connections over them.
//
// libwebsockets 4.1 sets SO_REUSEPORT on its own listener only when built with several service
// threads (LWS_MAX_SMP > 1, not Debian's build), and its listener spins when descriptors run
// out (EMFILE stays readable; it logs every failed accept). So the hub listens itself, one shard
// or many, and hands each accepted connection on (to its lws vhost, which then serves it exactly
// as one it accepted, or first to PublishPath).
//
// Running out of descriptors (EMFILE, ENFILE) is handled as nginx and libev's authors advise: a
// spare descriptor is kept open; when accept fails for lack of descriptors, the spare is closed,
// the waiting connection accepted, answered `503` and closed, and the spare reopened. The
// backlog is thus answered rather than left hanging, the loop does not spin, and one log line
// marks the start of each episode and one its end. A few descriptors below the limit are kept
// from accept altogether (connections that would take them are answered 503 the same way), for
// what the hub itself must open meanwhile.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace rthub {

struct Metrics;

class SharedListener {
 public:
  SharedListener() = default;
  ~SharedListener();
  SharedListener(const SharedListener&) = delete;
  SharedListener& operator=(const SharedListener&) = delete;

  // Binds host:port (port 0: any) with SO_REUSEPORT and listens; throws Error(kIo).
  void open(const std::string& host, int port);
  int port() const { return port_; }
  // Starts accepting on `loop`, giving each connection (non-blocking, options set) to `serve`;
  // counts descriptor shortages in `metrics`.
  void start(uv_loop_t* loop, std::function<void(int fd)> serve, Metrics* metrics);
  // Housekeeping (the server's timer): accepts again after a pause, and ends an episode of
  // descriptor shortage once accept has worked normally for a while.
  void resume();
  // Stops accepting and closes the socket (the poll handle closes through the loop).
  void close();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);
  // accept failed with EMFILE/ENFILE: answers one waiting connection 503 through the spare
  // descriptor. False when not even that works (then polling pauses until resume()).
  bool refuse_one();
  void answer_503(int fd);
  void begin_shortage();

  int fd_ = -1;
  int port_ = 0;
  int spare_fd_ = -1;         // kept open to be given up when descriptors run out
  int fd_ceiling_ = 1 << 30;  // accepted descriptors from here on are answered 503
  uv_poll_t* poll_ = nullptr;
  std::function<void(int fd)> serve_;
  Metrics* metrics_ = nullptr;
  bool paused_ = false;
  // The current episode of descriptor shortage, if any: since when, connections refused.
  bool short_ = false;
  int64_t short_since_ms_ = 0, last_short_ms_ = 0;
  uint64_t refused_in_episode_ = 0;
};

}  // namespace rthub
