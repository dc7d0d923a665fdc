#include "transport/shared_listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

}  // namespace

SharedListener::~SharedListener() { close(); }

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
  if (fd_ < 0) throw Error(Errc::kIo, "cannot listen on " + host + ":" + std::to_string(port) + ": " + why);
  struct sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd_, reinterpret_cast<struct sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<struct sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<struct sockaddr_in*>(&bound)->sin_port);
}

void SharedListener::start(uv_loop_t* loop, struct lws_vhost* vhost) {
  vhost_ = vhost;
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void SharedListener::resume() {
  if (!paused_ || !poll_) return;
  paused_ = false;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void SharedListener::close() {
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SharedListener::on_readable(uv_poll_t* poll, int status, int) {
  auto* self = static_cast<SharedListener*>(poll->data);
  if (status < 0) return;
  // Everything waiting, then back to the loop; lws closes a socket it cannot adopt.
  for (;;) {
    int fd = accept4(self->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      set_connection_options(fd);
      lws_adopt_socket_vhost(self->vhost_, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    // Out of descriptors: the socket stays readable, so stop polling it until resume() (called
    // by the server's housekeeping timer) rather than spin.
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      uv_poll_stop(poll);
      self->paused_ = true;
    }
    return;
  }
}

}  // namespace rthub
