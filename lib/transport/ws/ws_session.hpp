// ws_session.hpp: a WebSocket connection at /ws.
//
// Frames arrive pre-encoded and shared (websocket_kind() frames are complete unmasked text
// frames), so a writable callback copies as many queued frames as fit into one batch and hands
// them to the socket in one write, raw: no per-subscriber framing or JSON work. On a plain-text
// connection that write may join the flush pass's batch of sends (socket_batch.hpp).
#pragma once

#include <string>

#include "transport/lws_session.hpp"
#include "transport/ws/ws_kind.hpp"

namespace rthub {

class WsSession final : public LwsSession {
 public:
  WsSession(struct lws* wsi, std::string peer)
      : LwsSession(websocket_kind(), wsi, std::move(peer)) {}

  void close(CloseCode code, std::string_view reason) override;

  // libwebsockets events; each returns what the lws callback should return.
  int on_receive(const void* data, size_t len);
  int on_writable();
  bool close_sent() const { return close_sent_; }

 private:
  bool streaming() const override { return !closing(); }
  int write_queued(SocketBatch* sends) override;

  std::string rx_;        // a message arriving in fragments
  size_t discarded_ = 0;  // bytes of an oversized message read and dropped before closing
  uint16_t close_code_ = 0;
  bool close_sent_ = false;
  std::string close_reason_;
};

}  // namespace rthub
