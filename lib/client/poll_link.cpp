#include "client/poll_link.hpp"

#include "client/poll_answer.hpp"

namespace rthub::client {

int PollRequest::on_callback(enum lws_callback_reasons reason, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
      status_ = static_cast<int>(lws_http_client_http_response(wsi_));
      std::string type = response_header(WSI_TOKEN_HTTP_CONTENT_TYPE);
      if (status_ == 200 && type.compare(0, 16, "application/json") != 0) {
        LinkEnd end;
        end.request_sent = true;
        end.http_status = status_;
        end.reason = "/poll answered with " +
                     (type.empty() ? std::string("no content type") : type) + ", not JSON";
        fail(std::move(end));
        return -1;
      }
      if (status_ == 200) {
        if (!reading_) lws_rx_flow_control(wsi_, 0);
        opened();
      }
      return ended_ ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buffer[LWS_PRE + 16384];
      char* p = buffer + LWS_PRE;
      int n = static_cast<int>(sizeof buffer - LWS_PRE);
      return lws_http_client_read(wsi_, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      if (body_.size() + len > kMaxAnswer) {
        LinkEnd end;
        end.request_sent = true;
        end.http_status = status_;
        end.reason = "a /poll answer over " + std::to_string(kMaxAnswer) + " bytes";
        fail(std::move(end));
        return -1;
      }
      body_.append(static_cast<const char*>(in), len);
      return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP: {
      LinkEnd end;
      end.request_sent = true;
      end.http_status = status_;
      if (status_ == 200) {
        completed_ = true;
        end.reason = "answered";
        if (listener_) listener_->on_text(*this, body_);
      } else {
        end.reason = "/poll answered HTTP " + std::to_string(status_);
        end.body = body_;
      }
      finish(std::move(end));
      return -1;  // one request per connection
    }
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP: {
      LinkEnd end;
      end.request_sent = true;
      end.http_status = status_;
      end.reason = status_ ? "the connection closed before the /poll answer was complete"
                           : "the connection closed before an answer";
      finish(std::move(end));
      return 0;
    }
    default:
      return 0;
  }
}

PollLink::PollLink(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener,
                   std::vector<std::string> channels, std::string cursor, bool fallback)
    : loop_(loop),
      settings_(settings),
      listener_(listener),
      channels_(std::move(channels)),
      cursor_(std::move(cursor)),
      fallback_(fallback) {}

PollLink::~PollLink() {
  abandon();
}

bool PollLink::connect() {
  poll_again();
  return !ended_;
}

void PollLink::poll_again() {
  poll_due_ = false;
  LinkSettings settings = settings_;
  // The first answer comes at once (the channels' `subscribed`), so it has the handshake timeout;
  // later polls are held by the hub up to its poll timeout, and silence is the watchdog's call.
  if (opened_) settings.handshake_timeout_ms = 0;
  retired_ = std::move(request_);
  LinkListener* self = this;  // the requests report to this link
  request_ = std::make_unique<PollRequest>(
      loop_, settings, self,
      settings_.endpoint.poll_path(channels_, cursor_, fallback_ && !opened_,
                                   settings_.stream_snapshots && settings_.stream_snapshots()));
  if (!reading_) request_->set_reading(false);
  request_->connect();  // a failure at once comes back through on_end
}

void PollLink::abandon() {
  if (request_) request_->abandon();
  ended_ = true;
}

void PollLink::fail(LinkEnd end) {
  if (ended_) return;
  if (request_) request_->abandon();
  ended_ = true;
  end.opened = opened_;
  listener_->on_end(*this, end);
}

void PollLink::set_reading(bool enable) {
  reading_ = enable;
  if (request_ && !request_->ended()) request_->set_reading(enable);
  if (enable && poll_due_ && !ended_) poll_again();
}

void PollLink::on_open(Connection& request) {
  (void)request;
  if (opened_ || ended_) return;
  opened_ = true;
  listener_->on_open(*this);
}

void PollLink::on_text(Connection& request, std::string_view body) {
  (void)request;
  if (ended_) return;
  PollAnswer answer;
  std::string error;
  if (!decode_poll_answer(body, answer, error)) {
    LinkEnd end;
    end.request_sent = true;
    end.reason = "unreadable /poll answer: " + error;
    return fail(std::move(end));
  }
  if (!answer.cursor.empty()) cursor_ = std::move(answer.cursor);
  for (std::string_view message : answer.messages) {
    listener_->on_text(*this, message);
    if (ended_) return;  // the strategy let go of this link meanwhile
  }
  listener_->on_activity(*this);  // an empty answer (the hub's poll timeout) is a sign of life
}

void PollLink::on_end(Connection& request, const LinkEnd& end) {
  if (ended_) return;
  if (!static_cast<PollRequest&>(request).completed()) return fail(end);
  if (reading_)
    poll_again();
  else
    poll_due_ = true;  // flow control: the next poll waits until the host caught up
}

}  // namespace rthub::client
