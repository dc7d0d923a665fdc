#include "transport/sse/sse_session.hpp"

#include <cstring>

#include "core/hub_core.hpp"
#include "core/sse_cursor.hpp"
#include "transport/http/http_exchange.hpp"

namespace rthub {

void SseSession::close(CloseCode, std::string_view) {
  if (ending_) return;
  ending_ = true;
  set_closing();
  lws_callback_on_writable(wsi_);
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, 3);
}

int SseSession::open(struct lws* wsi, ConnectionSlot& slot) {
  ServerContext& server = server_of(wsi);
  std::vector<std::string> channels = query_values(wsi, "channel");
  if (channels.empty()) return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kBadRequest, "missing channel parameter");
  for (const auto& c : channels)
    if (!is_valid_channel_name(c))
      return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kBadRequest,
                                       "bad channel name: 1-255 bytes of [A-Za-z0-9_.:@/-]");
  if (server.options.max_subscriptions && channels.size() > server.options.max_subscriptions)
    return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kLimit, "too many channels");
  Refusal why;
  std::string peer = peer_address(wsi);
  if (!server.core.admit(peer, &why))
    return HttpExchange::reply_error(wsi, slot, 503, codec::ErrorCode::kLimit,
                                     why == Refusal::kMaxPerIp ? "too many connections from this address" : "too many connections");
  // A browser reconnects with the URL it started with, so its Last-Event-ID header wins.
  std::string cursor = custom_header(wsi, "last-event-id:");
  if (cursor.empty()) {
    auto ids = query_values(wsi, "last_event_id");
    if (!ids.empty()) cursor = ids.front();
  }

  unsigned char buffer[LWS_PRE + 512];
  unsigned char* start = buffer + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buffer + sizeof(buffer);
  if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, reinterpret_cast<const unsigned char*>("no-cache"), 8, &p, end) ||
      lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("x-accel-buffering:"),
                                  reinterpret_cast<const unsigned char*>("no"), 2, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  // The stream has no length and no end: no idle timeout on it (heartbeats find dead links).
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);

  auto* session = new SseSession(wsi, peer, server.options.sse_retry_ms);
  slot.sse = session;
  server.core.attach(*session);
  server.core.open_stream(*session, channels, cursor);
  lws_callback_on_writable(wsi);
  return 0;
}

int SseSession::on_writable() {
  if (ending_) return -1;
  ServerContext& server = server_of(wsi_);
  unsigned char* batch = server.scratch.data() + LWS_PRE;
  size_t used = 0;
  if (!started_) {
    started_ = true;
    used = static_cast<size_t>(snprintf(reinterpret_cast<char*>(batch), 64, "retry: %d\n\n", retry_ms_));
  }
  auto& queue = this->queue();
  int64_t now = monotonic_us();
  // An item's id line is the cursor after it; moving one seq grows the cursor by at most 20 bytes.
  std::string id = "id: " + sse_cursor::format(cursors()) + "\n";
  while (!queue.empty()) {
    size_t bound = id.size() + 20 + queue.front().frame->size();
    if (used > 0 && used + bound > kWriteBatchBytes) break;  // the rest goes in the next callback
    Outbound item = std::move(queue.front());
    queue.pop();
    server.core.on_written(*this, item, now);
    id = "id: " + sse_cursor::format(cursors()) + "\n";
    if (used + id.size() + item.frame->size() > kWriteBatchBytes) {
      // An event bigger than a batch goes alone, through its own buffer.
      std::string event = id + *item.frame;
      if (lws_write(wsi_, reinterpret_cast<unsigned char*>(event.data()), event.size(), LWS_WRITE_HTTP) < 0) return -1;
      if (!queue.empty()) lws_callback_on_writable(wsi_);
      return 0;
    }
    std::memcpy(batch + used, id.data(), id.size());
    std::memcpy(batch + used + id.size(), item.frame->data(), item.frame->size());
    used += id.size() + item.frame->size();
  }
  if (used && lws_write(wsi_, batch, used, LWS_WRITE_HTTP) < 0) return -1;
  if (!queue.empty()) lws_callback_on_writable(wsi_);
  return 0;
}

}  // namespace rthub
