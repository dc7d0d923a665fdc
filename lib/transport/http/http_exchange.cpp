#include "transport/http/http_exchange.hpp"

#include "core/channel_name.hpp"
#include "core/hub_core.hpp"
#include "core/json_scan.hpp"
#include "history/page_json.hpp"
#include "transport/http/publish_call.hpp"

#include <cstdlib>
#include <functional>
#include <vector>

namespace rthub {
namespace {

// Marks a connection whose bodiless request is answered but the answer not yet written: the
// request line lws parsed, hashed (never null). It lives in the wsi's opaque user data because
// the slot, and the exchange in it, do not survive a protocol rebind (see of()).
void* request_mark(struct lws* wsi) {
  static const enum lws_token_indexes kUris[] = {
      WSI_TOKEN_GET_URI,   WSI_TOKEN_POST_URI,   WSI_TOKEN_OPTIONS_URI, WSI_TOKEN_PUT_URI,
      WSI_TOKEN_PATCH_URI, WSI_TOKEN_DELETE_URI, WSI_TOKEN_HEAD_URI};
  std::string line;
  for (auto token : kUris) {
    std::string uri = header(wsi, token);
    if (!uri.empty()) {
      line = std::to_string(static_cast<int>(token)) + ' ' + uri;
      break;
    }
  }
  return reinterpret_cast<void*>(std::hash<std::string>{}(line) | 1);
}

// Whether lws reads a body after these headers, decided as lws_http_action() does: by the
// Content-Length (0: none), else POST, PUT and PATCH have one.
bool has_body(struct lws* wsi) {
  std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (!length.empty()) return std::strtoull(length.c_str(), nullptr, 10) != 0;
  return lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ||
         lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0 ||
         lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0;
}

}  // namespace

// lws frees the slot at every protocol (re)bind, and with it the exchange (lws_server.cpp,
// HTTP_DROP_PROTOCOL): an exchange serves exactly one request.
HttpExchange& HttpExchange::of(struct lws* wsi, ConnectionSlot& slot) {
  if (!slot.http) {
    auto* self = new HttpExchange(wsi);
    slot.http = self;
    server_of(wsi).exchanges.insert(self);
    self->expects_body_ = has_body(wsi);
    // A marked connection means this is no new request but lws 4.1.6 replaying the last one.
    // Bytes came in behind that bodiless request (pipelined) before its answer was written; the
    // wsi still being LRS_ESTABLISHED, lws_read_h1() fed them to the header parser, which is
    // still in WSI_PARSING_COMPLETE and so swallows them all, then ran the old headers through
    // lws_http_action() again, whose protocol rebind deleted the first exchange. The pipelined
    // request is lost: answer the first one again (same headers, same answer) and close, so
    // that the client resends the rest.
    if (void* mark = lws_get_opaque_user_data(wsi)) {
      lws_set_opaque_user_data(wsi, nullptr);
      self->replay_ = mark == request_mark(wsi) ? Replay::kSame : Replay::kOther;
    }
  }
  return *slot.http;
}

int HttpExchange::reply_error(struct lws* wsi, ConnectionSlot& slot, int status,
                              codec::ErrorCode code, const std::string& text) {
  HttpExchange& self = of(wsi, slot);
  self.error(status, code, text);
  return self.queued();
}

int HttpExchange::on_request(struct lws* wsi, ConnectionSlot& slot, const std::string& method,
                             const std::string& path) {
  HttpExchange& self = of(wsi, slot);
  self.route(method, path);
  return self.queued();
}

// Ends the callback that saw a request's headers.
int HttpExchange::queued() {
  if (replay_ != Replay::kNo) {
    // Written now: lws cleared hdr_parsing_completed for the replay, so it would never call the
    // writable callback. An unknown request (not expected from lws 4.1.6) just closes.
    if (status_ && replay_ == Replay::kSame) write_answer(true);
    return -1;
  }
  // A bodiless answer waits for the writable callback: mark the connection until then.
  if ((status_ || answer_pending_) && !expects_body_)
    lws_set_opaque_user_data(wsi_, request_mark(wsi_));
  return 0;
}

void HttpExchange::error(int status, codec::ErrorCode code, const std::string& text) {
  if (replay_ == Replay::kNo)
    server_of(wsi_).metrics.count_error(code);  // counted on the first run
  reply(status, "application/json", error_json(code, text));
}

void HttpExchange::route(const std::string& method, const std::string& path) {
  ServerContext& server = server_of(wsi_);
  if (path == "/healthz") {
    if (method != "GET") return error(405, codec::ErrorCode::kBadRequest, "use GET");
    bool ok = !server.broker_ready || server.broker_ready();
    return reply(ok ? 200 : 503, "text/plain", ok ? "ok\n" : "broker unavailable\n");
  }
  if (path == "/metrics") {
    if (method != "GET") return error(405, codec::ErrorCode::kBadRequest, "use GET");
    std::string text = server.metrics.render();
    if (server.broker_metrics) server.broker_metrics(text);
    return reply(200, "text/plain; version=0.0.4", std::move(text));
  }
  if ((path == "/publish" || path == "/events") && method == "OPTIONS") {  // CORS preflight
    if (!server.core.origin_allowed(header(wsi_, WSI_TOKEN_ORIGIN)))
      return error(403, codec::ErrorCode::kForbidden, "origin not allowed");
    return reply(204, "text/plain", "");
  }
  if (path == "/presence") {
    if (method != "GET") return error(405, codec::ErrorCode::kBadRequest, "use GET");
    auto channels = query_values(wsi_, "channel");
    if (channels.size() != 1)
      return error(400, codec::ErrorCode::kBadRequest, "give one channel parameter");
    const std::string& channel = channels.front();
    if (!is_valid_channel_name(channel))
      return error(400, codec::ErrorCode::kBadRequest, bad_channel_name_text());
    if (!server.core.presence_supported())
      return error(501, codec::ErrorCode::kUnsupported,
                   "presence needs the memory broker (not --redis) for now");
    // The same token and rights as subscribing to the channel.
    Admission admission = server.core.admit(connect_request(wsi_, "http", "/presence"));
    if (admission.status) {
      codec::ErrorCode code = admission.status == 401   ? codec::ErrorCode::kUnauthorized
                              : admission.status == 403 ? codec::ErrorCode::kForbidden
                                                        : codec::ErrorCode::kLimit;
      return error(admission.status, code, admission.reason);
    }
    if (!server.core.may_subscribe(admission.rights.get(), channel))
      return error(403, codec::ErrorCode::kForbidden, "may not subscribe to " + channel);
    answer_pending_ = true;
    server.core.presence_clients(
        channel, [this, alive = alive_, channel](const std::string* clients) {
          if (!alive->value) return;
          answer_pending_ = false;
          if (!clients)
            return error(503, codec::ErrorCode::kUnavailable, "presence unavailable, try again");
          std::string body = "{\"channel\":";
          json::append_string(body, channel);
          body += ",\"clients\":" + *clients + "}";
          reply(200, "application/json", std::move(body));
        });
    return;
  }
  if (path == "/events") return error(405, codec::ErrorCode::kBadRequest, "use GET");
  if (path == "/history") {
    if (method != "GET") return error(405, codec::ErrorCode::kBadRequest, "use GET");
    return history();
  }
  if (path == "/publish") {
    if (method != "POST") return error(405, codec::ErrorCode::kBadRequest, "use POST");
    server.metrics.http_publishes_lws.add();
    if (auto refused =
            publish_refusal(server.options, server.core, header(wsi_, WSI_TOKEN_ORIGIN),
                            header(wsi_, WSI_TOKEN_HTTP_AUTHORIZATION), peer_address(wsi_)))
      return answer(*refused);
    // libwebsockets 4.1 reads no chunked request body: refuse it at once rather than wait.
    if (!header(wsi_, WSI_TOKEN_HTTP_TRANSFER_ENCODING).empty())
      return error(411, codec::ErrorCode::kBadRequest,
                   "send the body with a Content-Length (chunked bodies are not read)");
    std::string length = header(wsi_, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (!length.empty() &&
        std::strtoull(length.c_str(), nullptr, 10) > server.options.max_message_bytes) {
      too_large_ = true;
      return error(413, codec::ErrorCode::kTooLarge,
                   "body over " + std::to_string(server.options.max_message_bytes) + " bytes");
    }
    if (!expects_body_)
      return publish_body();  // Content-Length: 0, answered now like any bodiless request
    publishing_ = true;
    return;  // the body follows
  }
  return error(404, codec::ErrorCode::kNotFound, "no such endpoint");
}

int HttpExchange::on_body(const void* data, size_t len) {
  if (len) expects_body_ = true;
  if (!publishing_) return 0;
  if (body_.size() + len > server_of(wsi_).options.max_message_bytes) {
    publishing_ = false;
    too_large_ = true;
    error(413, codec::ErrorCode::kTooLarge,
          "body over " + std::to_string(server_of(wsi_).options.max_message_bytes) + " bytes");
    return 0;
  }
  body_.append(static_cast<const char*>(data), len);
  return 0;
}

int HttpExchange::on_body_complete() {
  if (body_done_) {
    // A second completion means pipelining. lws 4.1.6 keeps the bytes it read past this body on
    // the wsi's buflist and, the wsi staying in LRS_BODY with rx_content_remain 0, re-feeds them
    // on every loop pass: lws_read_h1() goes straight to postbody_completion and consumes
    // nothing. Those bytes are the next request, and lws cannot serve a request that starts in
    // its buflist: once its headers are parsed, lws_http_action() reads the body from the head
    // of wsi->buflist, the very segment being parsed, so the headers come back as the body and
    // the loop then spins on 0 bytes consumed. So this request's answer closes the connection.
    pipelined_ = true;
    return 0;
  }
  body_done_ = true;
  if (publishing_) publish_body();
  return 0;
}

void HttpExchange::publish_body() {
  publishing_ = false;
  publish_json(server_of(wsi_).core, body_, [this, alive = alive_](const PublishAnswer& outcome) {
    if (alive->value) answer(outcome);
  });
}

void HttpExchange::answer(const PublishAnswer& outcome) {
  if (outcome.status != 200) return error(outcome.status, outcome.code, outcome.text);
  reply(200, "application/json", outcome.text);
}

namespace {

// A query parameter given at most once; false when it is repeated.
bool single_value(struct lws* wsi, const char* name, std::string& value, bool& present) {
  auto values = query_values(wsi, name);
  present = !values.empty();
  if (values.size() > 1) return false;
  if (present) value = values.front();
  return true;
}

// Decimal digits only, at most 19 of them (below 2^63, PostgreSQL's bigint).
bool parse_count(const std::string& text, uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  out = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

}  // namespace

void HttpExchange::history() {
  ServerContext& server = server_of(wsi_);
  if (!server.core.origin_allowed(header(wsi_, WSI_TOKEN_ORIGIN)))
    return error(403, codec::ErrorCode::kForbidden, "origin not allowed");
  std::string channel, limit_text, before_text, after_text;
  bool has_channel, has_limit, has_before, has_after;
  if (!single_value(wsi_, "channel", channel, has_channel) ||
      !single_value(wsi_, "limit", limit_text, has_limit) ||
      !single_value(wsi_, "before", before_text, has_before) ||
      !single_value(wsi_, "after", after_text, has_after))
    return error(400, codec::ErrorCode::kBadRequest,
                 "channel, limit, before and after may each be given once");
  if (!has_channel) return error(400, codec::ErrorCode::kBadRequest, "missing channel parameter");
  if (!is_valid_channel_name(channel))
    return error(400, codec::ErrorCode::kBadRequest, bad_channel_name_text());
  HistoryQuery query;
  uint64_t limit = query.limit;
  if (has_limit && (!parse_count(limit_text, limit) || limit < 1 || limit > kMaxHistoryLimit))
    return error(400, codec::ErrorCode::kBadRequest,
                 "limit must be a whole number from 1 to " + std::to_string(kMaxHistoryLimit));
  query.limit = static_cast<size_t>(limit);
  if (has_before && has_after)
    return error(400, codec::ErrorCode::kBadRequest, "give before or after, not both");
  if (has_before || has_after) {
    query.direction = has_before ? HistoryDirection::kBefore : HistoryDirection::kAfter;
    if (!parse_count(has_before ? before_text : after_text, query.seq))
      return error(
          400, codec::ErrorCode::kBadRequest,
          std::string(has_before ? "before" : "after") + " must be a seq (a whole number)");
  }
  // The same rights as subscribing: the connection's token (or anonymous) and the host's hooks.
  Admission admission = server.core.admit(connect_request(wsi_, "http", "/history"));
  if (admission.status) {
    codec::ErrorCode code = admission.status == 401   ? codec::ErrorCode::kUnauthorized
                            : admission.status == 403 ? codec::ErrorCode::kForbidden
                            : admission.status == 500 ? codec::ErrorCode::kInternal
                                                      : codec::ErrorCode::kLimit;
    return error(admission.status, code, admission.reason);
  }
  answer_pending_ = true;
  server.core.read_history(
      admission.rights.get(), channel, query,
      [this, alive = alive_, channel](bool allowed, HistoryPage& page) {
        if (!alive->value) return;
        answer_pending_ = false;
        if (!allowed)
          return error(403, codec::ErrorCode::kForbidden, "not allowed to read " + channel);
        if (page.status == HistoryStatus::kNotPersisted)
          return error(404, codec::ErrorCode::kNotFound,
                       "channel " + channel + " is not persisted (see --postgres and --persist)");
        if (page.status == HistoryStatus::kUnavailable)
          return error(503, codec::ErrorCode::kUnavailable, "history store unavailable, try again");
        reply(200, "application/json", history_page_json(page));
      });
}

void HttpExchange::reply(int status, const char* content_type, std::string body) {
  status_ = status;
  content_type_ = content_type;
  answer_ = std::move(body);
  if (replay_ != Replay::kNo) return;  // queued() writes it at once
  // After a body, everything lws had read of the connection has been fed to it by now (a
  // pipelined request shows as a second body completion, see on_body_complete).
  if (expects_body_)
    server_of(wsi_).answer_list.push_back(this);
  else
    lws_callback_on_writable(wsi_);
}

void HttpExchange::answer_now() {
  if (!status_) return;
  if (too_large_ || pipelined_ || !body_done_) {
    lws_callback_on_writable(wsi_);  // an answer that closes: on_writable's path
    return;
  }
  lws_set_opaque_user_data(wsi_, nullptr);
  struct lws* wsi = wsi_;
  if (write_answer(false) < 0) {
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    return;
  }
  if (lws_partial_buffered(wsi)) {  // see on_writable
    close_when_sent_ = true;
    lws_callback_on_writable(wsi);
    return;
  }
  // Completing rebinds the protocol, which deletes this exchange: touch no member after it.
  if (lws_http_transaction_completed(wsi))
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

int HttpExchange::on_writable() {
  if (close_when_sent_) return -1;  // lws calls back once the buffered rest is sent
  if (!status_) return 0;
  lws_set_opaque_user_data(wsi_, nullptr);  // answered: no replay of this request can come now
  // Keep the connection only if lws holds nothing of a next request and read this body whole.
  // Otherwise a refused body may still be arriving (close rather than read it), or lws has bytes
  // past this request that it cannot serve (see on_body_complete).
  bool keep = !too_large_ && !pipelined_ && (!expects_body_ || body_done_);
  struct lws* wsi = wsi_;
  if (write_answer(!keep) || !keep) return -1;
  // A partly sent answer makes lws defer the completion, leaving a window in which a next
  // request would be replayed on top of this one's headers: close once it is sent instead.
  if (lws_partial_buffered(wsi)) return -1;
  // Completing rebinds the protocol, which deletes this exchange: touch no member after it.
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int HttpExchange::write_answer(bool close) {
  int failed = write_http_answer(
      wsi_, static_cast<unsigned int>(status_), content_type_, answer_,
      [this, close](unsigned char** p, unsigned char* end) {
        return (close && lws_add_http_header_by_token(
                             wsi_, WSI_TOKEN_CONNECTION,
                             reinterpret_cast<const unsigned char*>("close"), 5, p, end)) ||
               add_cors_headers(wsi_, server_of(wsi_).options, p, end);
      });
  status_ = 0;
  body_.clear();
  answer_.clear();
  return failed ? -1 : 0;
}

}  // namespace rthub
