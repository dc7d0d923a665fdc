#include "client/link.hpp"

#include <cstring>

namespace rthub::client {

Link::Link(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener)
    : loop_(loop), settings_(settings), listener_(listener) {}

Link::~Link() {
  abandon();
}

bool Link::connect() {
  path_storage_ = path();
  host_storage_ = settings_.endpoint.host_header();
  struct lws_client_connect_info info;
  std::memset(&info, 0, sizeof info);
  info.context = loop_.context();
  info.address = settings_.endpoint.host.c_str();
  info.port = settings_.endpoint.port;
  info.path = path_storage_.c_str();
  info.host = host_storage_.c_str();
  info.method = method();
  info.local_protocol_name = ClientLoop::protocol_name();
  info.alpn = "http/1.1";  // the hub speaks HTTP/1.1; WebSocket over h2 is not supported by lws
  info.opaque_user_data = this;
  info.pwsi = &wsi_;
  if (settings_.endpoint.tls) {
    info.ssl_connection = LCCSCF_USE_SSL;
    if (settings_.insecure_skip_verify)
      info.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
  }
  int timeout = settings_.handshake_timeout_ms;
  // 0: no timer of the link's own (a held long-poll answers when the hub has something).
  if (timeout > 0)
    handshake_timer_.start(loop_.context(), timeout, [this, timeout] {
      if (opened_ || ended_) return;
      LinkEnd end;
      end.request_sent = request_sent_;
      end.timed_out = true;
      end.reason = (request_sent_ ? "no answer within " : "could not connect within ") +
                   std::to_string(timeout) + " ms";
      fail(std::move(end));
    });
  struct lws* wsi = lws_client_connect_via_info(&info);
  if (!wsi && !ended_) {
    wsi_ = nullptr;
    LinkEnd end;
    end.reason = "cannot start a connection to " + host_storage_;
    finish(std::move(end));
  }
  return !ended_;
}

void Link::detach() {
  handshake_timer_.cancel();
  if (wsi_) lws_set_opaque_user_data(wsi_, nullptr);
}

void Link::abandon() {
  if (wsi_) {
    detach();
    lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    wsi_ = nullptr;
  }
  handshake_timer_.cancel();
  ended_ = true;
}

void Link::fail(LinkEnd end) {
  if (ended_) return;
  end.opened = opened_;
  struct lws* wsi = wsi_;
  if (wsi) {
    detach();
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    wsi_ = nullptr;
  }
  ended_ = true;
  handshake_timer_.cancel();
  report_end(end);
}

void Link::finish(LinkEnd end) {
  if (ended_) return;
  end.opened = opened_;
  end.request_sent = end.request_sent || request_sent_;
  detach();
  wsi_ = nullptr;  // lws frees the connection after this callback
  ended_ = true;
  report_end(end);
}

void Link::report_end(const LinkEnd& end) {
  if (listener_) listener_->on_end(*this, end);
}

void Link::opened() {
  opened_ = true;
  handshake_timer_.cancel();
  if (listener_) listener_->on_open(*this);
}

void Link::set_reading(bool enable) {
  reading_ = enable;
  if (wsi_ && opened_) lws_rx_flow_control(wsi_, enable ? 1 : 0);
}

std::string Link::response_header(enum lws_token_indexes token) const {
  if (!wsi_) return {};
  int n = lws_hdr_total_length(wsi_, token);
  if (n <= 0) return {};
  std::string out(static_cast<size_t>(n) + 1, '\0');
  if (lws_hdr_copy(wsi_, &out[0], n + 1, token) < 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

int Link::add_header(const char* name_with_colon, const std::string& value, unsigned char** p,
                     unsigned char* end) {
  return lws_add_http_header_by_name(wsi_, reinterpret_cast<const unsigned char*>(name_with_colon),
                                     reinterpret_cast<const unsigned char*>(value.data()),
                                     static_cast<int>(value.size()), p, end);
}

int Link::on_lws(struct lws* wsi, enum lws_callback_reasons reason, void* in, size_t len) {
  if (!wsi_) wsi_ = wsi;  // a callback can come before lws_client_connect_via_info returns
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      request_sent_ = true;
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      if (!settings_.token.empty() &&
          add_header("authorization:", "Bearer " + settings_.token, p, end))
        return -1;
      return add_headers(p, end);
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      LinkEnd end;
      end.reason = in && len ? std::string(static_cast<const char*>(in),
                                           strnlen(static_cast<const char*>(in), len))
                   : in      ? std::string(static_cast<const char*>(in))
                             : "connection failed";
      end.http_status = static_cast<int>(lws_http_client_http_response(wsi));
      finish(std::move(end));
      return 0;
    }
    case LWS_CALLBACK_WSI_DESTROY: {
      LinkEnd end;
      end.reason = "connection closed";
      finish(std::move(end));
      return 0;
    }
    default:
      return on_callback(reason, in, len);
  }
}

}  // namespace rthub::client
