#include "client/ws_link.hpp"

#include <vector>

namespace rthub::client {

void WsLink::send(std::string text) {
  outbox_.push_back(std::move(text));
  if (wsi_ && opened_) lws_callback_on_writable(wsi_);
}

int WsLink::on_callback(enum lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (!reading_) lws_rx_flow_control(wsi_, 0);
      if (!outbox_.empty()) lws_callback_on_writable(wsi_);
      opened();
      return 0;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (lws_frame_is_binary(wsi_)) {
        LinkEnd end;
        end.reason = "the hub sent a binary frame";
        fail(std::move(end));
        return -1;
      }
      if (inbound_.size() + len > kMaxMessageBytes) {
        LinkEnd end;
        end.reason = "a message from the hub is over 16 MiB";
        fail(std::move(end));
        return -1;
      }
      inbound_.append(static_cast<const char*>(in), len);
      if (lws_is_final_fragment(wsi_) && lws_remaining_packet_payload(wsi_) == 0) {
        std::string text;
        text.swap(inbound_);
        if (listener_) listener_->on_text(*this, text);
      } else if (listener_) {
        listener_->on_activity(*this);
      }
      return 0;
    }

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      if (outbox_.empty()) return 0;
      std::string& text = outbox_.front();
      std::vector<unsigned char> buffer(LWS_PRE + text.size());
      std::copy(text.begin(), text.end(), buffer.begin() + LWS_PRE);
      int n = lws_write(wsi_, buffer.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT);
      if (n < static_cast<int>(text.size())) return -1;
      outbox_.pop_front();
      if (!outbox_.empty()) lws_callback_on_writable(wsi_);
      return 0;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const auto* bytes = static_cast<const unsigned char*>(in);
      if (len >= 2) {
        close_code_ = (bytes[0] << 8) | bytes[1];
        close_text_.assign(reinterpret_cast<const char*>(bytes) + 2, len - 2);
      }
      return 0;
    }

    case LWS_CALLBACK_CLIENT_CLOSED: {
      LinkEnd end;
      if (close_code_) {
        end.reason = "the hub closed the WebSocket (" + std::to_string(close_code_) +
                     (close_text_.empty() ? "" : " " + close_text_) + ")";
      } else {
        end.reason = "the WebSocket closed";
      }
      finish(std::move(end));
      return 0;
    }

    default:
      return 0;
  }
}

}  // namespace rthub::client
