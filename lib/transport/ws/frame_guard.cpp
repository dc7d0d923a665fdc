#include "transport/ws/frame_guard.hpp"

#include <libwebsockets.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>

#include "transport/ws/frame_reader.hpp"
#include "transport/ws/ws_metrics.hpp"

namespace rthub {

struct FrameGuard::Watched {
  explicit Watched(struct lws* w, uint64_t max_frame) : wsi(w), reader(max_frame) {}
  struct lws* wsi;
  FrameReader reader;
};

namespace {

// The guard of the loop this thread serves: libuv's I/O callback carries no user pointer.
thread_local FrameGuard* t_guard = nullptr;
// libuv's own callback of poll handles (uv__poll_io), the same for every one and every shard's
// thread: kept on wrapping.
std::atomic<uv__io_cb> g_poll_io{nullptr};

// Where the kernel's struct tcp_info (linux/tcp.h, since Linux 4.1) keeps tcpi_bytes_received:
// glibc's older copy of the struct, which libwebsockets.h pulls in, stops before it, and the
// two headers cannot be included together.
constexpr size_t kBytesReceivedOffset = 128;

// How far into the stream the application (lws) has read: the bytes TCP received less those
// still queued. Read twice around TCP_INFO so that bytes arriving meanwhile do not skew it.
bool bytes_consumed(int fd, uint64_t& out) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    int queued_before = 0, queued_after = 0;
    alignas(8) unsigned char info[256];
    socklen_t len = sizeof info;
    if (ioctl(fd, SIOCINQ, &queued_before) != 0) return false;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) != 0) return false;
    if (len < kBytesReceivedOffset + sizeof(uint64_t)) return false;
    if (ioctl(fd, SIOCINQ, &queued_after) != 0) return false;
    if (queued_before == queued_after) {
      uint64_t received;
      std::memcpy(&received, info + kBytesReceivedOffset, sizeof received);
      out = received - static_cast<uint64_t>(queued_after);
      return true;
    }
  }
  return false;
}

// Enough to see past what lws reads in one go (its service buffer, 4 KiB by default).
constexpr size_t kPeekBytes = 16 * 1024;

}  // namespace

FrameGuard::FrameGuard(uv_loop_t* loop, Metrics& metrics, uint64_t max_frame_bytes)
    : loop_(loop), metrics_(metrics.extension<WsMetrics>()), max_frame_(max_frame_bytes) {
  t_guard = this;
}

FrameGuard::~FrameGuard() {
  if (t_guard == this) t_guard = nullptr;
}

void FrameGuard::watch(struct lws* wsi) {
  int fd = lws_get_socket_fd(wsi);
  if (fd < 0 || static_cast<unsigned int>(fd) >= loop_->nwatchers) return;
  uv__io_t* watcher = static_cast<uv__io_t*>(loop_->watchers[fd]);
  if (!watcher || watcher->fd != fd) return;
  if (watcher->cb != on_io) {
    uv__io_cb expected = nullptr;
    g_poll_io.compare_exchange_strong(expected, watcher->cb);
    if (watcher->cb != g_poll_io.load()) return;  // not a poll handle as expected: leave it alone
    watcher->cb = on_io;
  }
  uint64_t at = 0;
  if (!bytes_consumed(fd, at)) return;
  if (by_fd_.size() <= static_cast<size_t>(fd)) by_fd_.resize(static_cast<size_t>(fd) + 1);
  by_fd_[fd].reset(new Watched(wsi, max_frame_));
  by_fd_[fd]->reader.start(at);
}

void FrameGuard::forget(struct lws* wsi) {
  int fd = lws_get_socket_fd(wsi);
  if (fd >= 0 && static_cast<size_t>(fd) < by_fd_.size() && by_fd_[fd] && by_fd_[fd]->wsi == wsi)
    by_fd_[fd].reset();
}

void FrameGuard::on_io(uv_loop_t* loop, uv__io_t* watcher, unsigned int events) {
  FrameGuard* guard = t_guard;
  int fd = watcher->fd;
  if (guard && guard->loop_ == loop && (events & POLLIN) && fd >= 0 &&
      static_cast<size_t>(fd) < guard->by_fd_.size() && guard->by_fd_[fd]) {
    if (guard->inspect(fd, *guard->by_fd_[fd])) return;
  }
  g_poll_io.load(std::memory_order_relaxed)(loop, watcher, events);
}

bool FrameGuard::inspect(int fd, Watched& watched) {
  if (watched.reader.lost()) return false;
  uint64_t at = 0;
  if (!bytes_consumed(fd, at)) return false;
  static thread_local uint8_t peeked[kPeekBytes];
  ssize_t n = recv(fd, peeked, sizeof peeked, MSG_PEEK | MSG_DONTWAIT);
  if (n <= 0) return false;
  switch (watched.reader.feed(at, peeked, static_cast<size_t>(n))) {
    case FrameReader::Verdict::kOk:
      if (watched.reader.lost()) metrics_.frame_guard_lost.add();
      return false;
    case FrameReader::Verdict::kUnmasked:
      metrics_.count(WsProtocolError::kUnmasked);
      fail(fd, watched, 1002, "client frames must be masked");
      return true;
    case FrameReader::Verdict::kBadLength:
      metrics_.count(WsProtocolError::kBadLength);
      fail(fd, watched, 1002, "frame length with its top bit set");
      return true;
    case FrameReader::Verdict::kTooBig:
      metrics_.count(WsProtocolError::kTooBig);
      fail(fd, watched, 1009, "frame too big");
      return true;
  }
  return false;
}

void FrameGuard::fail(int fd, Watched& watched, uint16_t code, const char* reason) {
  struct lws* wsi = watched.wsi;
  // Drop what the peer sent: closing with unread input would reset the connection, and the
  // peer could lose the close frame. Bounded: a peer still sending is reset after all.
  uint8_t sink[16 * 1024];
  for (int i = 0; i < 64 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  // The close frame goes out directly unless lws holds a partly written frame (then writing
  // ours would cut into it, and the peer sees the connection end without one).
  if (!lws_partial_buffered(wsi)) {
    uint8_t frame[2 + 2 + 64];
    size_t reason_len = std::strlen(reason);
    if (reason_len > 64) reason_len = 64;
    frame[0] = 0x88;  // FIN + close
    frame[1] = static_cast<uint8_t>(2 + reason_len);
    frame[2] = static_cast<uint8_t>(code >> 8);
    frame[3] = static_cast<uint8_t>(code & 0xff);
    std::memcpy(frame + 4, reason, reason_len);
    ssize_t sent = send(fd, frame, 4 + reason_len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)sent;  // best effort: the connection ends either way
    shutdown(fd, SHUT_WR);
  }
  by_fd_[fd].reset();
  // Synchronously: lws must not read the frame, and this is outside any lws callback.
  lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

}  // namespace rthub
