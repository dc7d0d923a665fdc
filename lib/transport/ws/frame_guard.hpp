// frame_guard.hpp: RFC 6455 checks on ws:// frame headers that libwebsockets 4.1.6 skips.
//
// lws accepts unmasked client frames, and a header announcing 2^62 bytes waits for payload
// before anything happens. Its public API tells neither, so the guard reads the bytes before
// lws does: it wraps the libuv I/O callback of each plain-TCP WebSocket connection (the
// uv__io_t that libuv keeps per descriptor, loop->watchers[fd]; lws never re-initialises it),
// peeks (MSG_PEEK) at the pending input and follows the frame headers with a FrameReader. The
// stream offset lws has reached comes from the kernel: TCP_INFO's bytes received less the
// bytes still queued (SIOCINQ). When a header is wrong, the guard reads and drops the pending
// input (so that closing does not reset the connection), writes the close frame (1002 or 1009)
// itself and closes the connection before lws sees the frame.
//
// wss:// is not covered: the bytes on the socket are encrypted, and lws decrypts them itself.
// There lws 4.1.6's own behaviour applies (documented in docs/PROTOCOL.md).
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

struct lws;

namespace rthub {

struct Metrics;
struct WsMetrics;
class FrameReader;

class FrameGuard {
 public:
  // `max_frame_bytes`: a frame announcing more is closed at its header with 1009.
  FrameGuard(uv_loop_t* loop, Metrics& metrics, uint64_t max_frame_bytes);
  ~FrameGuard();
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;

  // At LWS_CALLBACK_ESTABLISHED of a plain-TCP connection (service thread).
  void watch(struct lws* wsi);
  // At LWS_CALLBACK_CLOSED (and WSI_DESTROY): the connection is gone.
  void forget(struct lws* wsi);

 private:
  struct Watched;
  static void on_io(uv_loop_t* loop, uv__io_t* watcher, unsigned int events);
  // True when the connection was failed (then lws must not touch the watcher again).
  bool inspect(int fd, Watched& watched);
  void fail(int fd, Watched& watched, uint16_t code, const char* reason);

  uv_loop_t* loop_;
  WsMetrics& metrics_;
  uint64_t max_frame_;
  std::vector<std::unique_ptr<Watched>> by_fd_;
};

}  // namespace rthub
