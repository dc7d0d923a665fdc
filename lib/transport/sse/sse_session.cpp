#include "transport/sse/sse_session.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/sse_cursor.hpp"
#include "core/channel_name.hpp"
#include "core/hub_core.hpp"  // the clocks
#include "transport/http/http_exchange.hpp"
#include "transport/socket_batch.hpp"

namespace rthub {

void SseSession::close(CloseCode, std::string_view) {
  if (ending_) return;
  ending_ = true;
  set_closing();
  lws_callback_on_writable(wsi_);
  if (!server_of(wsi_).stopping)
    lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, server_of(wsi_).close_timeout_secs);
}

int SseSession::open(struct lws* wsi, ConnectionSlot& slot) {
  ServerContext& server = server_of(wsi);
  std::vector<std::string> channels;
  for (auto& c : query_values(wsi, "channel"))  // a channel named twice is one subscription
    if (std::find(channels.begin(), channels.end(), c) == channels.end())
      channels.push_back(std::move(c));
  if (channels.empty())
    return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kBadRequest,
                                     "missing channel parameter");
  for (const auto& c : channels)
    if (!is_valid_channel_name(c))
      return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kBadRequest,
                                       bad_channel_name_text());
  if (server.options.max_subscriptions && channels.size() > server.options.max_subscriptions)
    return HttpExchange::reply_error(wsi, slot, 400, codec::ErrorCode::kLimit, "too many channels");
  if (server.broker_ready && !server.broker_ready())
    return HttpExchange::reply_error(wsi, slot, 503, codec::ErrorCode::kUnavailable,
                                     "broker unavailable");
  auto snapshot = query_values(wsi, "snapshot");
  bool wants_snapshot = !snapshot.empty() && snapshot.front() == "1";
  if (wants_snapshot && !server.host.keeps_keys())
    return HttpExchange::reply_error(wsi, slot, 501, codec::ErrorCode::kUnsupported,
                                     "snapshots are not supported with the Redis broker yet");
  ConnectRequest request = connect_request(wsi, "sse", "/events");
  Admission admission = server.host.admit(request);
  if (admission.status) {
    codec::ErrorCode code = admission.status == 401   ? codec::ErrorCode::kUnauthorized
                            : admission.status == 403 ? codec::ErrorCode::kForbidden
                            : admission.status == 500 ? codec::ErrorCode::kInternal
                                                      : codec::ErrorCode::kLimit;
    return HttpExchange::reply_error(wsi, slot, admission.status, code, admission.reason);
  }

  auto fallback = query_values(wsi, "fallback");
  if (!fallback.empty() && fallback.front() == "1") server.host.note_fallback(event_stream_kind());
  auto* session = new SseSession(wsi, request.peer, server.options.sse_retry_ms);
  session->rights = std::move(admission.rights);
  session->channels_ = std::move(channels);
  session->snapshot_ = wants_snapshot;
  // A browser reconnects with the URL it started with, so its Last-Event-ID header wins.
  session->cursor_ = custom_header(wsi, "last-event-id:");
  if (session->cursor_.empty()) {
    auto ids = query_values(wsi, "last_event_id");
    if (!ids.empty()) session->cursor_ = ids.front();
  }
  // The stream has no length and no end: no idle timeout on it (heartbeats find dead links).
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  slot.stream = session;
  server.host.attach(*session);
  uint64_t id = session->id;
  SessionHost& host = server.host;
  host.authorize_stream(*session, session->channels_,
                        [&host, id](bool allowed, const std::string& refused) {
                          auto* self = static_cast<SseSession*>(host.find_session(id));
                          if (!self) return;
                          self->phase_ = allowed ? Phase::kStarting : Phase::kRefused;
                          self->refused_channel_ = refused;
                          lws_callback_on_writable(self->wsi_);
                        });
  return 0;
}

int SseSession::write_head() {
  ServerContext& server = server_of(wsi_);
  bool refused = phase_ == Phase::kRefused;
  std::string body;
  if (refused) {
    server.metrics.forbidden.add();
    server.metrics.count_error(codec::ErrorCode::kForbidden);
    body = "{\"error\":{\"code\":\"forbidden\",\"message\":\"may not subscribe to " +
           refused_channel_ + "\"}}";
  }
  unsigned char buffer[LWS_PRE + 1024];
  unsigned char* start = buffer + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buffer + sizeof(buffer);
  if (lws_add_http_common_headers(wsi_, refused ? 403 : HTTP_STATUS_OK,
                                  refused ? "application/json" : "text/event-stream",
                                  refused ? body.size() : LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
      lws_add_http_header_by_token(wsi_, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                   reinterpret_cast<const unsigned char*>("no-cache"), 8, &p,
                                   end) ||
      lws_add_http_header_by_name(wsi_,
                                  reinterpret_cast<const unsigned char*>("x-accel-buffering:"),
                                  reinterpret_cast<const unsigned char*>("no"), 2, &p, end) ||
      add_cors_headers(wsi_, server.options, &p, end) ||
      lws_finalize_write_http_header(wsi_, start, &p, end))
    return -1;
  if (refused) {
    ending_ = true;
    if (lws_write(wsi_, reinterpret_cast<unsigned char*>(body.data()), body.size(),
                  LWS_WRITE_HTTP_FINAL) < 0)
      return -1;
    lws_callback_on_writable(wsi_);  // then close
    return 0;
  }
  phase_ = Phase::kStreaming;
  // Everything the stream needed from the request was read in open(): give the header table
  // back to libwebsockets' small pool, or a few dozen open streams would starve new requests.
  lws_http_headers_detach(wsi_);
  // The preamble leads the queue; subscribed objects and replayed history follow it.
  size_t n = static_cast<size_t>(std::snprintf(nullptr, 0, "retry: %d\n\n", retry_ms_));
  std::string retry(n + 1, '\0');
  std::snprintf(retry.data(), retry.size(), "retry: %d\n\n", retry_ms_);
  retry.resize(n);
  write_retry_ = std::move(retry);
  StreamResume resume{!cursor_.empty(), sse_cursor::parse(cursor_)};
  server.host.open_stream(*this, channels_, resume, snapshot_);
  lws_callback_on_writable(wsi_);
  return 0;
}

void SseSession::on_closed() {
  server_of(wsi_).host.detach(*this);
  delete this;
}

int SseSession::on_writable() {
  if (ending_) return -1;
  switch (phase_) {
    case Phase::kAuthorizing:
      return 0;
    case Phase::kRefused:
    case Phase::kStarting:
      return write_head();
    case Phase::kStreaming:
      return write_and_continue();
  }
  return 0;
}

int SseSession::write_queued(SocketBatch* sends) {
  ServerContext& server = server_of(wsi_);
  // Over HTTP/1.1 libwebsockets writes a stream's body as it is (no chunking: the stream has no
  // length and is not compressed), so a plain-text stream's batch may join the flush pass's.
  if (sends && !writes_raw()) sends = nullptr;
  unsigned char* batch = sends ? sends->space(kWriteBatchBytes) : server.scratch.data() + LWS_PRE;
  size_t used = 0;
  if (!write_retry_.empty()) {
    std::memcpy(batch, write_retry_.data(), write_retry_.size());
    used = write_retry_.size();
    write_retry_.clear();
  }
  auto& queue = this->queue();
  int64_t now = monotonic_us();
  // An item's id line is the cursor after it; moving one seq grows the cursor by at most 20 bytes.
  // The line is rebuilt in one reused buffer: no allocation per event.
  std::string& id = server.id_line;
  auto format_id = [&] {
    id.assign("id: ");
    sse_cursor::append(id, cursors());
    id.push_back('\n');
  };
  format_id();
  while (!queue.empty()) {
    size_t bound = id.size() + 20 + queue.front().frame->size();
    if (used > 0 && used + bound > kWriteBatchBytes) break;  // the rest goes in the next callback
    Outbound item = std::move(queue.front());
    queue.pop();
    server.host.on_written(*this, item, now);
    format_id();
    if (used + id.size() + item.frame->size() > kWriteBatchBytes) {
      // An event bigger than a batch goes alone, through its own buffer.
      std::string event = id + *item.frame;
      return lws_write(wsi_, reinterpret_cast<unsigned char*>(event.data()), event.size(),
                       LWS_WRITE_HTTP) < 0
                 ? -1
                 : 0;
    }
    std::memcpy(batch + used, id.data(), id.size());
    std::memcpy(batch + used + id.size(), item.frame->data(), item.frame->size());
    used += id.size() + item.frame->size();
  }
  if (used && sends) {
    sends->add(lws_get_socket_fd(wsi_), batch, used, &LwsSession::on_sent, this);
    return 0;
  }
  return used && lws_write(wsi_, batch, used, LWS_WRITE_HTTP) < 0 ? -1 : 0;
}

}  // namespace rthub
