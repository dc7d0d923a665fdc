// ws_link.hpp: a WebSocket to the hub's /ws: JSON text frames both ways.
#pragma once

#include <deque>
#include <string>

#include "client/link.hpp"

namespace rthub::client {

class WsLink final : public Link {
 public:
  WsLink(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener)
      : Link(loop, settings, listener) {}

  // Queues one text frame; frames go out in order once the socket is open and writable.
  void send(std::string text) override;

 protected:
  const char* method() const override { return nullptr; }
  std::string path() const override { return settings_.endpoint.websocket_path(); }
  int on_callback(enum lws_callback_reasons reason, void* in, size_t len) override;

 private:
  static constexpr size_t kMaxMessageBytes = 16 * 1024 * 1024;
  std::deque<std::string> outbox_;
  std::string inbound_;
  int close_code_ = 0;
  std::string close_text_;
};

}  // namespace rthub::client
