#include "transport/publish/publish_path.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/hub_core.hpp"
#include "core/metrics.hpp"
#include "rthub/hub.hpp"
#include "transport/lws_glue.hpp"
#include "transport/publish/publish_connection.hpp"
#include "transport/publish/publish_head.hpp"

namespace rthub {
namespace {

// How long a connection may stay silent before libwebsockets gets it undecided (and applies its
// own timeouts to it).
constexpr int64_t kDecideWithinMs = 1000;

// The peer's address as text, as libwebsockets gives it ("127.0.0.1", "::1").
std::string peer_text(int fd) {
  struct sockaddr_storage address {};
  socklen_t length = sizeof address;
  if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {0};
  if (address.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<struct sockaddr_in*>(&address)->sin_addr, text,
              sizeof text);
  else if (address.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<struct sockaddr_in6*>(&address)->sin6_addr, text,
              sizeof text);
  return text;
}

void close_poll(uv_poll_t* poll) {
  uv_close(reinterpret_cast<uv_handle_t*>(poll),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
}

}  // namespace

PublishPath::PublishPath(uv_loop_t* loop, struct lws_vhost* vhost, ServerContext& server)
    : loop_(loop), vhost_(vhost), server_(server) {}

PublishPath::~PublishPath() {
  close_all();
}

void PublishPath::take(int fd) {
  Choice choice = choose(fd);
  if (choice != Choice::kWait) return place(fd, choice);
  auto undecided =
      std::make_unique<Undecided>(Undecided{this, fd, new uv_poll_t, monotonic_us() / 1000});
  uv_poll_init(loop_, undecided->poll, fd);
  undecided->poll->data = undecided.get();
  uv_poll_start(undecided->poll, UV_READABLE, on_first_bytes);
  Undecided* key = undecided.get();
  undecided_.emplace(key, std::move(undecided));
}

PublishPath::Choice PublishPath::choose(int fd) {
  char start[16];
  ssize_t n = recv(fd, start, sizeof start, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Choice::kWait;
  // Another request, or the peer closed or failed: libwebsockets' to see.
  return n > 0 && may_start_publish(std::string_view(start, static_cast<size_t>(n))) ? Choice::kHub
                                                                                     : Choice::kLws;
}

void PublishPath::place(int fd, Choice choice) {
  if (choice == Choice::kLws) return adopt(fd);
  auto connection = std::make_unique<PublishConnection>(*this, loop_, fd, peer_text(fd));
  PublishConnection* key = connection.get();
  connections_.emplace(key, std::move(connection));
  key->on_readable();
}

void PublishPath::on_first_bytes(uv_poll_t* poll, int status, int) {
  auto* undecided = static_cast<Undecided*>(poll->data);
  PublishPath* self = undecided->path;
  int fd = undecided->fd;
  Choice choice = status < 0 ? Choice::kLws : self->choose(fd);
  if (choice == Choice::kWait) return;
  self->forget(undecided, false);
  self->place(fd, choice);
}

void PublishPath::forget(Undecided* undecided, bool close_fd) {
  close_poll(undecided->poll);  // out of epoll before anyone else polls the descriptor
  if (close_fd) ::close(undecided->fd);
  undecided_.erase(undecided);
}

void PublishPath::adopt(int fd) {
  lws_adopt_socket_vhost(vhost_, fd);  // lws closes a socket it cannot adopt
}

void PublishPath::drop(PublishConnection* connection) {
  connections_.erase(connection);
}

void PublishPath::hand_over(PublishConnection* connection, int fd) {
  connections_.erase(connection);  // its poll handle leaves epoll before lws adds the descriptor
  server_.metrics.http_handovers.add();
  adopt(fd);
}

void PublishPath::flush(SocketBatch& sends) {
  if (to_flush_.empty()) return;
  std::vector<PublishConnection*> listed;
  listed.swap(to_flush_);
  for (PublishConnection* connection : listed)
    if (connections_.count(connection)) connection->flush(&sends);  // skip those gone meanwhile
}

void PublishPath::tick(int64_t now_ms) {
  std::vector<Undecided*> late;
  for (auto& entry : undecided_)
    if (now_ms - entry.first->since_ms >= kDecideWithinMs) late.push_back(entry.first);
  for (Undecided* undecided : late) {
    int fd = undecided->fd;
    forget(undecided, false);
    adopt(fd);
  }
  std::vector<PublishConnection*> unwanted;
  for (auto& entry : connections_)
    if (!entry.first->still_wanted(now_ms)) unwanted.push_back(entry.first);
  for (PublishConnection* connection : unwanted) drop(connection);
}

void PublishPath::close_all() {
  while (!undecided_.empty()) forget(undecided_.begin()->first, true);
  connections_.clear();
  to_flush_.clear();
}

}  // namespace rthub
