#include "transport/poll/poll_request.hpp"

#include <algorithm>

#include "common/sse_cursor.hpp"
#include "core/channel_name.hpp"
#include "core/hub_core.hpp"  // the clocks
#include "transport/http/http_exchange.hpp"
#include "transport/poll/poll_cursor.hpp"
#include "transport/poll/poll_kind.hpp"
#include "transport/poll/poll_session.hpp"

namespace rthub {
namespace {

// A cursor holds one entry of at most ~340 bytes per channel; past this it is not one of ours.
constexpr size_t kMaxCursorBytes = 12 * 1024;

bool same_channels(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

int answer_error(struct lws* wsi, ConnectionSlot& slot, int status, codec::ErrorCode code,
                 const std::string& text) {
  return HttpExchange::reply_error(wsi, slot, status, code, text);
}

}  // namespace

int PollRequest::open(struct lws* wsi, ConnectionSlot& slot) {
  ServerContext& server = server_of(wsi);
  SessionHost& host = server.host;
  std::vector<std::string> channels;
  for (auto& c : query_values(wsi, "channel"))  // a channel named twice is one subscription
    if (std::find(channels.begin(), channels.end(), c) == channels.end())
      channels.push_back(std::move(c));
  if (channels.empty())
    return answer_error(wsi, slot, 400, codec::ErrorCode::kBadRequest, "missing channel parameter");
  for (const auto& c : channels)
    if (!is_valid_channel_name(c))
      return answer_error(wsi, slot, 400, codec::ErrorCode::kBadRequest, bad_channel_name_text());
  if (server.options.max_subscriptions && channels.size() > server.options.max_subscriptions)
    return answer_error(wsi, slot, 400, codec::ErrorCode::kLimit, "too many channels");
  auto cursors = query_values(wsi, "cursor");
  if (cursors.size() > 1)
    return answer_error(wsi, slot, 400, codec::ErrorCode::kBadRequest, "more than one cursor");
  auto cursor = poll_cursor::parse(cursors.empty() ? "" : cursors.front(), kMaxCursorBytes);
  if (!cursor)
    return answer_error(wsi, slot, 400, codec::ErrorCode::kBadRequest,
                        "bad cursor: give back the cursor of the last answer (or an SSE event id)");
  if (server.broker_ready && !server.broker_ready())
    return answer_error(wsi, slot, 503, codec::ErrorCode::kUnavailable, "broker unavailable");
  auto snapshot = query_values(wsi, "snapshot");
  bool wants_snapshot = !snapshot.empty() && snapshot.front() == "1";
  if (wants_snapshot && !host.keeps_keys())
    return answer_error(wsi, slot, 501, codec::ErrorCode::kUnsupported,
                        "snapshots are not supported with the Redis broker yet");
  ConnectRequest request = connect_request(wsi, "poll", "/poll");
  Admission admission = host.admit(request);
  if (admission.status) {
    codec::ErrorCode code = admission.status == 401   ? codec::ErrorCode::kUnauthorized
                            : admission.status == 403 ? codec::ErrorCode::kForbidden
                            : admission.status == 500 ? codec::ErrorCode::kInternal
                                                      : codec::ErrorCode::kLimit;
    return answer_error(wsi, slot, admission.status, code, admission.reason);
  }

  PollRegistry& registry = PollRegistry::of(server);
  int64_t now_ms = monotonic_us() / 1000;
  PollSession* session = cursor->token.empty() ? nullptr : registry.find(cursor->token);
  if (session && session->held)
    // Another request holds that state (a client's second tab, or a retry of a poll whose
    // connection it gave up on): this one starts its own from the cursor.
    session = nullptr;
  if (session && (session->closing() || session->answered_positions != cursor->positions ||
                  !same_channels(session->channels(), channels))) {
    // The client did not take what the state holds as sent (an answer it never got, or it moved
    // on elsewhere): start over from its cursor; history fills the gap.
    registry.drop(*session);
    session = nullptr;
  }
  bool fresh = session == nullptr;
  if (fresh) {
    session = &registry.create(request.peer, channels);
    auto fallback = query_values(wsi, "fallback");
    if (!fallback.empty() && fallback.front() == "1") host.note_fallback(poll_kind());
  }
  session->rights = std::move(admission.rights);
  auto* self = new PollRequest(wsi, *session, request.origin);
  slot.stream = self;
  session->held = self;
  session->held_until_ms = now_ms + registry.timeout_ms();
  // Held up to the poll timeout, which the registry enforces; lws's idle timeout must not end it.
  lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
  // Everything needed was read: give the header table back to libwebsockets' small pool, or a
  // few dozen held polls would starve new requests.
  lws_http_headers_detach(wsi);
  if (!fresh) {
    if (!session->queue().empty()) self->answer_soon();
    return 0;
  }
  uint64_t id = session->id;
  std::string positions = cursor->positions;
  host.authorize_stream(
      *session, channels,
      [&host, id, positions, wants_snapshot](bool allowed, const std::string& refused) {
        auto* state = static_cast<PollSession*>(host.find_session(id));
        if (!state) return;
        if (!allowed) {
          state->set_closing();
          if (state->held) state->held->refuse(refused);
          return;
        }
        state->streaming = true;
        StreamResume resume{!positions.empty(), sse_cursor::parse(positions)};
        host.open_stream(*state, state->channels(), resume, wants_snapshot);
        state->want_write();
      });
  return 0;
}

void PollRequest::answer_soon(bool due) {
  due_ = due_ || due;
  lws_callback_on_writable(wsi_);
}

void PollRequest::refuse(const std::string& channel) {
  refused_ = true;
  refused_channel_ = channel;
  lws_callback_on_writable(wsi_);
}

int PollRequest::on_writable() {
  ServerContext& server = server_of(wsi_);
  if (refused_) {
    server.metrics.forbidden.add();
    server.metrics.count_error(codec::ErrorCode::kForbidden);
    return write_answer(403,
                        "{\"error\":{\"code\":\"forbidden\",\"message\":\"may not subscribe to " +
                            refused_channel_ + "\"}}");
  }
  PollSession* s = session_;
  bool ready = s && s->streaming && !s->queue().empty() && !s->closing();
  if (!ready && !due_ && s && !s->closing()) return 0;  // nothing to send yet
  std::string messages;
  if (ready) {
    auto& queue = s->queue();
    int64_t now_us = monotonic_us();
    while (!queue.empty()) {
      size_t size = queue.front().frame->size();
      if (!messages.empty() && messages.size() + 1 + size > kMaxAnswerBytes) break;  // next poll
      Outbound item = std::move(queue.front());
      queue.pop();
      if (!messages.empty()) messages.push_back(',');
      messages.append(*item.frame);
      server.host.on_written(*s, item, now_us);
    }
  }
  std::string positions = s ? sse_cursor::format(s->cursors()) : std::string();
  std::string body = "{\"cursor\":\"";
  body += s ? poll_cursor::join(positions, s->token()) : positions;
  body += "\",\"messages\":[";
  body += messages;
  body += "]}";
  if (s) s->answered_positions = positions;
  return write_answer(200, body);
}

int PollRequest::write_answer(int status, const std::string& body) {
  ServerContext& server = server_of(wsi_);
  struct lws* wsi = wsi_;
  if (write_http_answer(wsi, static_cast<unsigned int>(status), "application/json", body,
                        [&](unsigned char** p, unsigned char* end) {
                          return add_cors_headers_for(wsi, server.options, origin_, p, end);
                        }))
    return -1;
  // The request is answered: the state waits for the next poll, and the connection takes it.
  if (session_) {
    session_->held = nullptr;
    session_->forget_at_ms = monotonic_us() / 1000 + 2 * PollRegistry::of(server).timeout_ms();
  }
  auto* slot = static_cast<ConnectionSlot*>(lws_wsi_user(wsi));
  if (slot && slot->stream == this) slot->stream = nullptr;
  lws_set_opaque_user_data(wsi, nullptr);
  bool close = refused_;
  delete this;
  if (close) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void PollRequest::on_closed() {
  // The client went away while its poll was held: the state waits for its next poll.
  if (session_ && session_->held == this) {
    session_->held = nullptr;
    session_->forget_at_ms =
        monotonic_us() / 1000 + 2 * PollRegistry::of(server_of(wsi_)).timeout_ms();
  }
  delete this;
}

}  // namespace rthub
