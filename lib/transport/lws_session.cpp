#include "transport/lws_session.hpp"

#include <algorithm>
#include <cerrno>

#include "transport/socket_batch.hpp"

namespace rthub {

LwsSession::LwsSession(const TransportKind& kind, struct lws* wsi, std::string peer)
    : Session(kind, std::move(peer)),
      wsi_(wsi),
      writes_raw_(!lws_is_ssl(wsi) && lws_get_network_wsi(wsi) == wsi) {}

LwsSession::~LwsSession() {
  if (!listed_) return;
  auto& list = server_of(wsi_).flush_list;
  auto it = std::find(list.begin(), list.end(), this);
  if (it != list.end()) list.erase(it);
}

void LwsSession::want_write() {
  if (listed_) return;
  listed_ = true;
  server_of(wsi_).flush_list.push_back(this);
}

void LwsSession::flush(SocketBatch& sends) {
  listed_ = false;
  // With a partial write pending, lws already waits for the socket and will call back.
  if (!streaming() || queue().empty() || lws_partial_buffered(wsi_)) return;
  if (write_and_continue(&sends) < 0) fail_write();
}

void LwsSession::fail_write() {
  set_closing();
  queue().clear();
  lws_set_timeout(wsi_, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

void LwsSession::on_sent(void* session, ssize_t result, const unsigned char* data, size_t len) {
  auto* self = static_cast<LwsSession*>(session);
  if (result == static_cast<ssize_t>(len)) return;
  if (result == -EAGAIN || result == -EWOULDBLOCK || result == -EINTR) result = 0;
  // What the socket did not take goes through lws, which keeps what it cannot write either and
  // writes it first when the socket has room (nothing else wrote to it since: the batch ran
  // inside this flush pass).
  if (result >= 0 && lws_write(self->wsi_, const_cast<unsigned char*>(data) + result,
                               len - static_cast<size_t>(result), LWS_WRITE_RAW) >= 0)
    return;
  self->fail_write();
}

void LwsSession::prefetch_record() const {
  const char* record = reinterpret_cast<const char*>(this);
  for (size_t line = 0; line < sizeof(LwsSession); line += 64) __builtin_prefetch(record + line);
}

void LwsSession::prefetch_parts() {
  __builtin_prefetch(wsi_);
  if (!queue().empty()) __builtin_prefetch(&queue().front());
  __builtin_prefetch(cursors().data());
}

int LwsSession::write_and_continue(SocketBatch* sends) {
  if (write_queued(sends) < 0) return -1;
  if (!queue().empty()) lws_callback_on_writable(wsi_);
  return 0;
}

}  // namespace rthub
