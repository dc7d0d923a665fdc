#include "transport/http/http_exchange.hpp"

#include "core/hub_core.hpp"
#include "core/json_scan.hpp"

namespace rthub {
namespace {

bool is_loopback(const std::string& peer) {
  return peer.rfind("127.", 0) == 0 || peer == "::1" || peer.rfind("::ffff:127.", 0) == 0;
}

// Constant-time comparison, so the key cannot be guessed byte by byte from timings.
bool same_secret(const std::string& given, const std::string& secret) {
  if (secret.empty()) return false;
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

std::string error_body(codec::ErrorCode code, const std::string& text) {
  std::string out = "{\"error\":{\"code\":\"";
  out += codec::error_code_name(code);
  out += "\",\"message\":";
  json::append_string(out, text);
  out += "}}";
  return out;
}

}  // namespace

HttpExchange& HttpExchange::of(struct lws* wsi, ConnectionSlot& slot) {
  if (!slot.http) {
    slot.http = new HttpExchange(wsi);
    server_of(wsi).exchanges.insert(slot.http);
  }
  return *slot.http;
}

int HttpExchange::reply_error(struct lws* wsi, ConnectionSlot& slot, int status, codec::ErrorCode code,
                              const std::string& text) {
  server_of(wsi).metrics.count_error(code);
  of(wsi, slot).reply(status, "application/json", error_body(code, text));
  return 0;
}

int HttpExchange::on_request(struct lws* wsi, ConnectionSlot& slot, const std::string& method, const std::string& path) {
  ServerContext& server = server_of(wsi);
  HttpExchange& self = of(wsi, slot);
  self.publishing_ = self.too_large_ = false;  // a keep-alive connection reuses the exchange
  self.body_.clear();
  if (path == "/healthz") {
    if (method != "GET") return reply_error(wsi, slot, 405, codec::ErrorCode::kBadRequest, "use GET");
    bool ok = !server.broker_ready || server.broker_ready();
    self.reply(ok ? 200 : 503, "text/plain", ok ? "ok\n" : "broker unavailable\n");
    return 0;
  }
  if (path == "/metrics") {
    if (method != "GET") return reply_error(wsi, slot, 405, codec::ErrorCode::kBadRequest, "use GET");
    std::string text = server.metrics.render();
    if (server.broker_metrics) server.broker_metrics(text);
    self.reply(200, "text/plain; version=0.0.4", std::move(text));
    return 0;
  }
  if ((path == "/publish" || path == "/events") && method == "OPTIONS") {  // CORS preflight
    if (!server.core.origin_allowed(header(wsi, WSI_TOKEN_ORIGIN)))
      return reply_error(wsi, slot, 403, codec::ErrorCode::kForbidden, "origin not allowed");
    self.reply(204, "text/plain", "");
    return 0;
  }
  if (path == "/events") return reply_error(wsi, slot, 405, codec::ErrorCode::kBadRequest, "use GET");
  if (path == "/publish") {
    if (method != "POST") return reply_error(wsi, slot, 405, codec::ErrorCode::kBadRequest, "use POST");
    if (!server.core.origin_allowed(header(wsi, WSI_TOKEN_ORIGIN)))
      return reply_error(wsi, slot, 403, codec::ErrorCode::kForbidden, "origin not allowed");
    const std::string& key = server.options.publish_key;
    if (!key.empty()) {
      std::string auth = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
      std::string given = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string();
      if (!same_secret(given, key))
        return reply_error(wsi, slot, 401, codec::ErrorCode::kUnauthorized, "publish needs Authorization: Bearer <publish key>");
    } else if (!is_loopback(peer_address(wsi))) {
      return reply_error(wsi, slot, 403, codec::ErrorCode::kForbidden, "without a publish key only loopback peers may publish");
    }
    std::string length = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (!length.empty() && std::strtoull(length.c_str(), nullptr, 10) > server.options.max_message_bytes) {
      self.too_large_ = true;
      return reply_error(wsi, slot, 413, codec::ErrorCode::kTooLarge,
                         "body over " + std::to_string(server.options.max_message_bytes) + " bytes");
    }
    self.publishing_ = true;
    return 0;  // the body follows
  }
  return reply_error(wsi, slot, 404, codec::ErrorCode::kNotFound, "no such endpoint");
}

int HttpExchange::on_body(const void* data, size_t len) {
  if (!publishing_) return 0;
  if (body_.size() + len > server_of(wsi_).options.max_message_bytes) {
    publishing_ = false;
    too_large_ = true;
    server_of(wsi_).metrics.count_error(codec::ErrorCode::kTooLarge);
    reply(413, "application/json",
          error_body(codec::ErrorCode::kTooLarge, "body over " + std::to_string(server_of(wsi_).options.max_message_bytes) + " bytes"));
    return 0;
  }
  body_.append(static_cast<const char*>(data), len);
  return 0;
}

int HttpExchange::on_body_complete() {
  if (publishing_) publish_body();
  return 0;
}

void HttpExchange::publish_body() {
  publishing_ = false;
  ServerContext& server = server_of(wsi_);
  json::Scan scan = json::scan_requests(body_, true);
  if (!scan.ok) {
    server.metrics.count_error(codec::ErrorCode::kBadRequest);
    return reply(400, "application/json", error_body(codec::ErrorCode::kBadRequest, scan.error));
  }
  if (scan.items.empty()) {
    server.metrics.count_error(codec::ErrorCode::kBadRequest);
    return reply(400, "application/json", error_body(codec::ErrorCode::kBadRequest, "empty array: nothing to publish"));
  }
  // The whole batch is checked before anything is published.
  std::vector<Message> messages;
  for (size_t i = 0; i < scan.items.size(); ++i) {
    const json::Fields& f = scan.items[i];
    std::string where = scan.array ? "item " + std::to_string(i) + ": " : std::string();
    std::string problem = !f.error.empty()                     ? f.error
                          : !f.has_channel                     ? "missing channel"
                          : !is_valid_channel_name(f.channel)  ? "bad channel name: 1-255 bytes of [A-Za-z0-9_.:@/-]"
                          : !f.data.present()                  ? "missing data"
                                                               : "";
    if (!problem.empty()) {
      server.metrics.count_error(codec::ErrorCode::kBadRequest);
      return reply(400, "application/json", error_body(codec::ErrorCode::kBadRequest, where + problem));
    }
    Message m;
    m.channel = f.channel;
    if (f.has_type) m.type = f.type;
    m.data.assign(f.data.in(body_));
    messages.push_back(std::move(m));
  }

  struct Batch {
    std::vector<PublishOutcome> outcomes;
    size_t remaining;
    bool array;
  };
  auto batch = std::make_shared<Batch>(Batch{std::vector<PublishOutcome>(messages.size()), messages.size(), scan.array});
  std::vector<std::string> channels;
  for (const auto& m : messages) channels.push_back(m.channel);
  for (size_t i = 0; i < messages.size(); ++i) {
    server.core.publish(std::move(messages[i]), [this, alive = alive_, batch, i, channels](const PublishOutcome& outcome) {
      batch->outcomes[i] = outcome;
      if (--batch->remaining > 0 || !alive->value) return;
      std::string body;
      for (size_t k = 0; k < batch->outcomes.size(); ++k) {
        const PublishOutcome& o = batch->outcomes[k];
        if (o.error != BrokerError::kOk) {
          server_of(wsi_).metrics.count_error(codec::ErrorCode::kUnavailable);
          return reply(503, "application/json",
                       error_body(codec::ErrorCode::kUnavailable, o.detail.empty() ? "broker unavailable" : o.detail));
        }
        if (k) body.push_back(',');
        body += "{\"channel\":";
        json::append_string(body, channels[k]);
        body += ",\"epoch\":";
        json::append_string(body, o.position.epoch);
        body += ",\"seq\":" + std::to_string(o.position.seq) + "}";
      }
      reply(200, "application/json", batch->array ? "[" + body + "]" : body);
    });
  }
}

void HttpExchange::reply(int status, const char* content_type, std::string body) {
  status_ = status;
  content_type_ = content_type;
  answer_ = std::move(body);
  lws_callback_on_writable(wsi_);
}

int HttpExchange::on_writable() {
  if (!status_) return 0;
  std::vector<unsigned char> buffer(LWS_PRE + 1024 + answer_.size());
  unsigned char* start = buffer.data() + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = buffer.data() + buffer.size();
  if (lws_add_http_common_headers(wsi_, static_cast<unsigned int>(status_), content_type_, answer_.size(), &p, end) ||
      lws_add_http_header_by_token(wsi_, WSI_TOKEN_HTTP_CACHE_CONTROL, reinterpret_cast<const unsigned char*>("no-store"), 8, &p, end) ||
      add_cors_headers(wsi_, server_of(wsi_).options, &p, end) || lws_finalize_write_http_header(wsi_, start, &p, end))
    return -1;
  status_ = 0;
  if (!answer_.empty() &&
      lws_write(wsi_, reinterpret_cast<unsigned char*>(answer_.data()), answer_.size(), LWS_WRITE_HTTP_FINAL) < 0)
    return -1;
  // A refused body may still be arriving: close rather than read it.
  if (too_large_) return -1;
  body_.clear();
  answer_.clear();
  return lws_http_transaction_completed(wsi_) ? -1 : 0;
}

}  // namespace rthub
