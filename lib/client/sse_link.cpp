#include "client/sse_link.hpp"

namespace rthub::client {

int SseLink::add_headers(unsigned char** p, unsigned char* end) {
  if (add_header("accept:", "text/event-stream", p, end) ||
      add_header("cache-control:", "no-cache", p, end))
    return -1;
  if (!cursor_.empty() && add_header("last-event-id:", cursor_, p, end)) return -1;
  return 0;
}

int SseLink::on_callback(enum lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
      status_ = static_cast<int>(lws_http_client_http_response(wsi_));
      std::string type = response_header(WSI_TOKEN_HTTP_CONTENT_TYPE);
      if (status_ == 200 && type.compare(0, 17, "text/event-stream") == 0) {
        lws_set_timeout(wsi_, NO_PENDING_TIMEOUT, 0);  // a stream has no end: the watchdog decides
        if (!reading_) lws_rx_flow_control(wsi_, 0);
        opened();
      } else if (status_ == 200) {
        LinkEnd end;
        end.request_sent = true;
        end.http_status = status_;
        end.reason = "/events answered with " +
                     (type.empty() ? std::string("no content type") : type) +
                     ", not an event stream";
        fail(std::move(end));
        return -1;
      }
      return 0;
    }

    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[LWS_PRE + 16384];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      return lws_http_client_read(wsi_, &p, &n) < 0 ? -1 : 0;
    }

    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ: {
      std::string_view bytes(static_cast<const char*>(in), len);
      if (!opened_) {
        if (error_body_.size() < kMaxErrorBody)
          error_body_.append(bytes.substr(0, kMaxErrorBody - error_body_.size()));
        return 0;
      }
      bool ok = parser_.feed(bytes, [this](const SseEvent& event) {
        if (!ended_ && listener_) listener_->on_text(*this, event.data);
      });
      if (!ok) {
        LinkEnd end;
        end.reason = "the event stream has a line over the size bound";
        fail(std::move(end));
        return -1;
      }
      if (!ended_ && listener_) listener_->on_activity(*this);
      return ended_ ? -1 : 0;
    }

    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP: {
      LinkEnd end;
      end.request_sent = true;
      end.http_status = status_;
      if (opened_) {
        end.reason = "the hub ended the event stream";
      } else if (status_) {
        end.reason = "/events answered HTTP " + std::to_string(status_);
        end.body = error_body_;
      } else {
        end.reason = "the connection closed before an answer";
      }
      finish(std::move(end));
      return 0;
    }

    default:
      return 0;
  }
}

}  // namespace rthub::client
