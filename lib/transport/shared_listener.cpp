#include "transport/shared_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/hub_core.hpp"
#include "core/metrics.hpp"
#include "rthub/hub.hpp"
#include "transport/bind_address.hpp"

namespace rthub {

namespace {

// What libwebsockets' own listener sets on the connections it accepts, and does not on adopted
// ones: no Nagle delay (a small answer or frame behind another would wait for the peer's delayed
// ACK, 40 ms), and TCP keepalive for half-open peers (as LwsServer's ka_* settings).
void set_connection_options(int fd) {
  int one = 1, idle = 60, interval = 10, probes = 3;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

// What a connection accepted through the spare descriptor is told before it is closed.
const char kNoDescriptors[] =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n"
    "Content-Length: 35\r\n"
    "\r\n"
    "server out of file descriptors: 503\n";

// An episode of shortage ends once accept has worked (or nobody waited) this long.
constexpr int64_t kShortageQuietMs = 1000;
// Connections answered 503 per readable event: the rest wait for the next loop iteration, so
// that the connections already served keep their turn.
constexpr int kRefusalsPerEvent = 64;
// Descriptors accept leaves to the rest of the hub (Redis reconnects, lws, logs): a connection
// whose descriptor falls in them is answered 503 at once, as when accept fails.
constexpr int kDescriptorHeadroom = 8;

int open_spare() {
  return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

// Whether a connection accepted now would get a descriptor below `ceiling` (they are
// allocated lowest first).
bool descriptor_free(int ceiling) {
  int probe = open_spare();
  if (probe < 0) return false;
  ::close(probe);
  return probe < ceiling;
}

bool out_of_descriptors(int error) {
  return error == EMFILE || error == ENFILE;
}

}  // namespace

SharedListener::~SharedListener() {
  close();
}

void SharedListener::open(const std::string& host, int port) {
  std::string why = "no address";
  try_bind_addresses(host, port, [&](const struct addrinfo& a) {
    int fd = socket(a.ai_family, a.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a.ai_protocol);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, a.ai_addr, a.ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      fd_ = fd;
      return true;
    }
    why = std::strerror(errno);
    ::close(fd);
    return false;
  });
  if (fd_ < 0)
    throw Error(Errc::kIo, "cannot listen on " + host + ":" + std::to_string(port) + ": " + why);
  struct sockaddr_storage bound {};
  socklen_t len = sizeof bound;
  getsockname(fd_, reinterpret_cast<struct sockaddr*>(&bound), &len);
  port_ =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<struct sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<struct sockaddr_in*>(&bound)->sin_port);
}

void SharedListener::start(uv_loop_t* loop, std::function<void(int fd)> serve, Metrics* metrics) {
  serve_ = std::move(serve);
  metrics_ = metrics;
  if (spare_fd_ < 0) spare_fd_ = open_spare();
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < (1u << 30))
    fd_ceiling_ = static_cast<int>(limit.rlim_cur) - kDescriptorHeadroom;
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void SharedListener::resume() {
  if (short_ && monotonic_us() / 1000 - last_short_ms_ >= kShortageQuietMs &&
      descriptor_free(fd_ceiling_)) {
    short_ = false;
    std::fprintf(stderr,
                 "rthub: file descriptors available again after %.1f s; %" PRIu64
                 " connections were answered 503 meanwhile\n",
                 static_cast<double>(last_short_ms_ - short_since_ms_) / 1000.0,
                 refused_in_episode_);
  }
  if (spare_fd_ < 0) spare_fd_ = open_spare();
  if (!paused_ || !poll_) return;
  paused_ = false;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void SharedListener::close() {
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_),
             [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (spare_fd_ >= 0) ::close(spare_fd_);
  spare_fd_ = -1;
}

void SharedListener::begin_shortage() {
  int64_t now = monotonic_us() / 1000;
  last_short_ms_ = now;
  if (short_) return;
  short_ = true;
  short_since_ms_ = now;
  refused_in_episode_ = 0;
  if (metrics_) metrics_->fd_shortages.add();
  std::fprintf(
      stderr,
      "rthub: out of file descriptors (%s) accepting connections on port %d: answering new "
      "ones 503 until some close (see --max-connections)\n",
      std::strerror(errno), port_);
}

void SharedListener::answer_503(int fd) {
  // Read what the client already sent: closing with unread input would reset the connection
  // and the client might lose the answer.
  char sink[4096];
  while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  ssize_t sent = send(fd, kNoDescriptors, sizeof kNoDescriptors - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void)sent;  // best effort: the connection closes either way
  ::close(fd);
  ++refused_in_episode_;
  if (metrics_) metrics_->refused[static_cast<size_t>(Refusal::kFdExhausted)].add();
}

bool SharedListener::refuse_one() {
  if (spare_fd_ < 0) return false;
  ::close(spare_fd_);
  spare_fd_ = -1;
  int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  bool nobody_waits = fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  if (fd >= 0) answer_503(fd);
  spare_fd_ = open_spare();
  return (fd >= 0 || nobody_waits) && spare_fd_ >= 0;
}

void SharedListener::on_readable(uv_poll_t* poll, int status, int) {
  auto* self = static_cast<SharedListener*>(poll->data);
  if (status < 0) return;
  // Everything waiting, then back to the loop.
  int refusals = 0;
  for (;;) {
    int fd = accept4(self->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && fd >= self->fd_ceiling_) {  // descriptors are allocated lowest first
      errno = EMFILE;
      self->begin_shortage();
      self->answer_503(fd);
      if (++refusals > kRefusalsPerEvent) return;
      continue;
    }
    if (fd >= 0) {
      set_connection_options(fd);
      self->serve_(fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (out_of_descriptors(errno)) {
      self->begin_shortage();
      if (++refusals <= kRefusalsPerEvent && self->refuse_one()) continue;
      if (refusals > kRefusalsPerEvent) return;  // more next iteration, after the others
    }
    // Not even the spare helps (or another error): the socket stays readable, so stop polling
    // it until resume() (the server's housekeeping timer) rather than spin.
    uv_poll_stop(poll);
    self->paused_ = true;
    return;
  }
}

}  // namespace rthub
