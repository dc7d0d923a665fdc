#include "client/http_exchange.hpp"

#include <vector>

namespace rthub::client {

int HttpExchange::add_headers(unsigned char** p, unsigned char* end) {
  if (body_.empty()) return 0;
  if (add_header("content-type:", "application/json", p, end) ||
      add_header("content-length:", std::to_string(body_.size()), p, end))
    return -1;
  lws_client_http_body_pending(wsi_, 1);
  lws_callback_on_writable(wsi_);
  return 0;
}

int HttpExchange::on_callback(enum lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE: {
      std::vector<unsigned char> buffer(LWS_PRE + body_.size());
      std::copy(body_.begin(), body_.end(), buffer.begin() + LWS_PRE);
      if (lws_write(wsi_, buffer.data() + LWS_PRE, body_.size(), LWS_WRITE_HTTP_FINAL) <
          static_cast<int>(body_.size()))
        return -1;
      lws_client_http_body_pending(wsi_, 0);
      return 0;
    }
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      status_ = static_cast<int>(lws_http_client_http_response(wsi_));
      opened();
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[LWS_PRE + 4096];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      return lws_http_client_read(wsi_, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      if (answer_.size() < kMaxAnswer) answer_.append(static_cast<const char*>(in), len);
      return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP: {
      completed_ = true;
      LinkEnd end;
      end.http_status = status_;
      finish(std::move(end));
      return -1;  // one request per connection
    }
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP: {
      LinkEnd end;
      end.http_status = status_;
      end.reason = "the connection closed before the answer was complete";
      finish(std::move(end));
      return 0;
    }
    default:
      return 0;
  }
}

void HttpExchange::report_end(const LinkEnd& end) {
  Done done = std::move(done_);
  if (!done) return;
  if (completed_)
    done(status_, answer_, {});
  else
    done(0, {}, end.reason);
}

}  // namespace rthub::client
