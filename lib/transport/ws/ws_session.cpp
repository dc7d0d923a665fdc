#include "transport/ws/ws_session.hpp"

#include <cstring>

#include "core/hub_core.hpp"  // the clocks
#include "core/utf8.hpp"
#include "transport/socket_batch.hpp"

namespace rthub {

void WsSession::close(CloseCode code, std::string_view reason) {
  if (close_code_) return;
  if (code == CloseCode::kAbnormal) {
    set_closing();
    close_code_ = static_cast<uint16_t>(code);
    close_sent_ = true;
    lws_set_timeout(wsi_, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    // The timeout above only fires when lws next services this connection, which for a silent
    // peer alone on the hub is its next I/O (maybe never). A writable callback comes on the next
    // loop iteration and ends the connection there (on_writable returns -1); a peer that stopped
    // reading is never writable and is ended by the timeout instead.
    lws_callback_on_writable(wsi_);
    return;
  }
  close_code_ = static_cast<uint16_t>(code);
  close_reason_.assign(reason.substr(0, 120));  // a close frame's payload is at most 125 bytes
  set_closing();
  lws_callback_on_writable(wsi_);
  // A peer that stopped reading never makes us writable: drop the TCP connection regardless.
  if (!server_of(wsi_).stopping)
    lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, server_of(wsi_).close_timeout_secs);
}

// Past this many bytes of an oversized message we stop reading it and close at once.
constexpr size_t kMaxDiscardBytes = 1 << 20;

int WsSession::on_receive(const void* data, size_t len) {
  last_heard_ms = monotonic_us() / 1000;
  if (closing()) return 0;
  ServerContext& server = server_of(wsi_);
  bool last = lws_is_final_fragment(wsi_) && lws_remaining_packet_payload(wsi_) == 0;
  if (lws_frame_is_binary(wsi_)) {
    close(CloseCode::kUnsupportedData, "binary frames are not supported");
    return 0;
  }
  if (discarded_ || rx_.size() + len > server.options.max_message_bytes) {
    // Read the rest of the message before closing: closing a socket with unread input resets
    // the connection, and the client would never see the 1009.
    if (!discarded_) server.metrics.count_error(codec::ErrorCode::kTooLarge);
    discarded_ += rx_.size() + len;
    rx_.clear();
    if (last || discarded_ > kMaxDiscardBytes) close(CloseCode::kTooBig, "message too big");
    return 0;
  }
  rx_.append(static_cast<const char*>(data), len);
  if (!last) return 0;
  std::string text;
  text.swap(rx_);
  if (!is_valid_utf8(text)) {
    close(CloseCode::kInvalidPayload, "text frame is not valid UTF-8");
    return 0;
  }
  server.host.on_request(*this, text);
  return 0;
}

int WsSession::on_writable() {
  // A dead peer (silent for three heartbeats) is dropped without a closing handshake.
  if (close_code_ == static_cast<uint16_t>(CloseCode::kAbnormal)) return -1;
  if (close_code_) {
    // The close frame is written like any other frame; then the peer answers it and lws ends
    // the connection, or the timeout set in close() does. Input keeps being read (and dropped)
    // meanwhile, so that the peer is not reset before it sees the close frame.
    if (close_sent_) return 0;
    std::string payload;
    payload.push_back(static_cast<char>(close_code_ >> 8));
    payload.push_back(static_cast<char>(close_code_ & 0xff));
    payload += close_reason_;
    std::string frame = websocket_frame(0x8, payload);  // a close frame
    close_sent_ = true;
    return lws_write(wsi_, reinterpret_cast<unsigned char*>(frame.data()), frame.size(),
                     LWS_WRITE_RAW) < 0
               ? -1
               : 0;
  }
  return write_and_continue();
}

int WsSession::write_queued(SocketBatch* sends) {
  ServerContext& server = server_of(wsi_);
  auto& queue = this->queue();
  if (queue.empty()) return 0;
  int64_t now = monotonic_us();
  if (sends && !writes_raw()) sends = nullptr;
  size_t used = 0;
  // A frame bigger than a batch is written from its shared buffer, uncopied.
  if (queue.front().frame->size() >= kWriteBatchBytes) {
    Outbound item = std::move(queue.front());
    queue.pop();
    server.host.on_written(*this, item, now);
    return lws_write(wsi_,
                     const_cast<unsigned char*>(
                         reinterpret_cast<const unsigned char*>(item.frame->data())),
                     item.frame->size(), LWS_WRITE_RAW) < 0
               ? -1
               : 0;
  }
  unsigned char* batch = sends ? sends->space(kWriteBatchBytes) : server.scratch.data() + LWS_PRE;
  while (!queue.empty() && used + queue.front().frame->size() <= kWriteBatchBytes) {
    const Outbound& item = queue.front();
    std::memcpy(batch + used, item.frame->data(), item.frame->size());
    used += item.frame->size();
    server.host.on_written(*this, item, now);
    queue.pop();
  }
  if (sends) {
    sends->add(lws_get_socket_fd(wsi_), batch, used, &LwsSession::on_sent, this);
    return 0;
  }
  return lws_write(wsi_, batch, used, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

}  // namespace rthub
