// lws_session.hpp: what WebSocket and SSE sessions share: writing queued frames as soon as the
// service loop has handled the events at hand, without a round trip through epoll.
//
// Asking libwebsockets for a writable callback per delivery costs a poll change, an epoll wake
// and another poll change per socket. Instead, a session with new frames joins the server's flush
// list, and when the loop has handled every pending event (libuv's prepare phase) the server
// writes each listed session's queue straight to its socket: one send() per socket, carrying all
// the frames that arrived meanwhile (on a plain-text connection, one of a batch of sends made in
// one system call: socket_batch.hpp). Only when the socket cannot take everything does the session
// fall back to libwebsockets' writable callbacks (lws keeps the unsent tail and writes it first).
#pragma once

#include <sys/types.h>

#include <string>

#include "rthub/transport.hpp"
#include "transport/lws_glue.hpp"

namespace rthub {

class SocketBatch;

class LwsSession : public Session {
 public:
  LwsSession(const TransportKind& kind, struct lws* wsi, std::string peer);
  ~LwsSession() override;

  void want_write() final;
  // Writes what is queued, from the server's flush (outside any lws callback); a send may be
  // left in `sends`, whose run() completes it before the flush pass ends.
  void flush(SocketBatch& sends);
  // A flush pass visits thousands of sessions whose records are out of cache, and each miss
  // stalls it (they were most of its own time at 10,000 subscribers): it asks for a session's
  // record a few sessions ahead, then for what the record points to that a write touches.
  void prefetch_record() const;
  void prefetch_parts();

 protected:
  // Whether queued frames may go out now (not before an SSE stream's head, not while closing).
  virtual bool streaming() const = 0;
  // Writes up to one batch of queued frames, or leaves its send in `sends` when that is given
  // (and this transport can: then on_sent() ends it); -1 when the connection failed.
  virtual int write_queued(SocketBatch* sends) = 0;
  // Whether bytes written here go to the socket as they are (no TLS, no HTTP/2 stream framing),
  // so that they may join a SocketBatch. Known when the session starts, not asked per write.
  bool writes_raw() const { return writes_raw_; }
  // The result of a send left in a SocketBatch (SocketBatch::Done).
  static void on_sent(void* session, ssize_t result, const unsigned char* data, size_t len);
  // Writes a batch and asks for a writable callback when frames remain: for writable callbacks.
  int write_and_continue(SocketBatch* sends = nullptr);

  struct lws* wsi_;

 private:
  // Outside a callback a failed write cannot return -1 to lws: have it close the connection.
  void fail_write();

  bool listed_ = false;  // on the server's flush list
  const bool writes_raw_;
};

}  // namespace rthub
