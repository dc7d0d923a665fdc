#include "transport/publish/publish_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/hub_core.hpp"
#include "core/metrics.hpp"
#include "rthub/hub.hpp"
#include "transport/http/publish_call.hpp"
#include "transport/lws_glue.hpp"
#include "transport/publish/publish_head.hpp"
#include "transport/publish/publish_path.hpp"
#include "transport/socket_batch.hpp"

namespace rthub {
namespace {

// Requests read ahead of their answers: past this, reading waits (a pipelining peer's requests
// stay in the socket's buffer) until answers are written.
constexpr size_t kMaxPendingAnswers = 256;
// Answer bytes a peer leaves unread before reading waits for it.
constexpr size_t kMaxUnsentBytes = 256 * 1024;
// A request half read or an answer half written for this long without a byte moving closes the
// connection (libwebsockets' own timeout for the same, LwsServer's timeout_secs).
constexpr int64_t kStalledMs = 10000;
// A connection with nothing under way for this long is closed (an HTTP client reconnects).
constexpr int64_t kIdleMs = 60000;
constexpr uint64_t kMaxRepeekMs = 64;

int64_t now_ms() {
  return monotonic_us() / 1000;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

}  // namespace

PublishConnection::PublishConnection(PublishPath& path, uv_loop_t* loop, int fd, std::string peer)
    : path_(path),
      fd_(fd),
      peer_(std::move(peer)),
      poll_(new uv_poll_t),
      timer_(new uv_timer_t),
      last_progress_ms_(now_ms()) {
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_timer_init(loop, timer_);
  timer_->data = this;
}

PublishConnection::~PublishConnection() {
  alive_->value = false;
  // Closing the poll handle takes the descriptor out of epoll at once (before libwebsockets adds
  // it after a hand-over); the handles' memory goes once libuv is done with them.
  uv_close(reinterpret_cast<uv_handle_t*>(poll_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
  uv_close(reinterpret_cast<uv_handle_t*>(timer_),
           [](uv_handle_t* handle) { delete reinterpret_cast<uv_timer_t*>(handle); });
  if (fd_ >= 0) ::close(fd_);
}

void PublishConnection::on_poll(uv_poll_t* poll, int status, int events) {
  auto* self = static_cast<PublishConnection*>(poll->data);
  if (status < 0) return self->path_.drop(self);
  if (events & UV_READABLE) return self->on_readable();
  self->flush(nullptr);
}

void PublishConnection::on_readable() {
  // Peeked first, then only publishes the hub serves are taken from the socket: any other request
  // stays there, whole, for libwebsockets to read as on any connection.
  char buffer[64 * 1024];
  ssize_t n = recv(fd_, buffer, sizeof buffer, MSG_PEEK);
  if (n == 0) {
    peer_done_ = true;  // answer what came, then close
  } else if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return path_.drop(this);
  } else {
    size_t held = in_.size();  // taken earlier: a publish whose body was incomplete then
    in_.append(buffer, static_cast<size_t>(n));
    Parsed parsed = parse();
    size_t take = parsed.body_pending  ? static_cast<size_t>(n)
                  : parsed.used > held ? parsed.used - held
                                       : 0;
    if (take && recv(fd_, buffer, take, 0) != static_cast<ssize_t>(take))
      return path_.drop(this);  // the bytes were peeked: only a reset gets here
    in_.resize(in_.size() - (static_cast<size_t>(n) - take));  // the rest stays in the socket
    in_.erase(0, parsed.used);
    head_pending_ = parsed.head_pending;
    // A head cut short is peeked at again and again: only new bytes are progress.
    if (take || static_cast<size_t>(n) != peeked_) last_progress_ms_ = now_ms();
    peeked_ = static_cast<size_t>(n) - take;
  }
  // Answers ready now go out with the flush pass at the end of this loop iteration, together.
  if (!answers_.empty() && answers_.front().ready)
    path_.want_flush(this);
  else
    finish();
}

void PublishConnection::on_timer(uv_timer_t* timer) {
  static_cast<PublishConnection*>(timer->data)->on_readable();
}

PublishConnection::Parsed PublishConnection::parse() {
  ServerContext& server = path_.server();
  Parsed parsed;
  parsing_ = true;
  for (;;) {
    if (hand_over_ || last_request_ || answers_.size() >= kMaxPendingAnswers) break;
    std::string_view rest(in_.data() + parsed.used, in_.size() - parsed.used);
    if (rest.empty()) break;
    PublishHead head;
    HeadVerdict verdict = read_publish_head(rest, head);
    if (verdict == HeadVerdict::kIncomplete) {
      parsed.head_pending = true;  // could still be a publish
      break;
    }
    // What the hub does not read itself, and publishes it would refuse (too large, not allowed),
    // go to libwebsockets, which answers them as it answers every other request.
    if (verdict == HeadVerdict::kOther || head.content_length > server.options.max_message_bytes ||
        publish_refusal(server.options, server.core, head.origin, head.authorization, peer_)) {
      hand_over_ = true;
      break;
    }
    if (rest.size() - head.head_bytes < head.content_length) {
      parsed.body_pending = true;  // the body is on its way
      break;
    }
    parsed.used += head.head_bytes + head.content_length;
    last_request_ = head.close;
    serve(head, std::string(rest.substr(head.head_bytes, head.content_length)));
  }
  parsing_ = false;
  return parsed;
}

void PublishConnection::serve(const PublishHead& head, std::string body) {
  ServerContext& server = path_.server();
  server.metrics.http_publishes_hub.add();
  uint64_t id = first_answer_id_ + answers_.size();
  answers_.emplace_back();
  publish_json(server.core, body,
               [this, alive = alive_, id, origin = head.origin,
                close = head.close](const PublishAnswer& answer) {
                 if (!alive->value) return;
                 if (answer.status != 200) path_.server().metrics.count_error(answer.code);
                 Answer& slot = answers_[id - first_answer_id_];
                 slot.bytes = format(answer, origin, close);
                 slot.ready = true;
                 if (!parsing_) path_.want_flush(this);  // a broker answered later
               });
}

std::string PublishConnection::format(const PublishAnswer& answer, const std::string& origin,
                                      bool close) const {
  std::string body = publish_answer_body(answer);
  std::string out =
      "HTTP/1.1 " + std::to_string(answer.status) + " " + reason_phrase(answer.status) +
      "\r\ncontent-type: application/json\r\ncontent-length: " + std::to_string(body.size()) +
      "\r\ncache-control: no-store\r\n";
  if (close) out += "connection: close\r\n";
  for (const auto& field : cors_fields(path_.server().options, origin))
    out.append(field.first).append(": ").append(field.second).append("\r\n");
  out += "\r\n";
  out += body;
  return out;
}

void PublishConnection::flush(SocketBatch* sends) {
  if (sending_) return;  // listed twice: the batch's result ends the first
  while (!answers_.empty() && answers_.front().ready) {
    out_ += answers_.front().bytes;
    answers_.pop_front();
    ++first_answer_id_;
  }
  if (out_.empty()) return finish();
  // A socket that refused part of an earlier write waits for room, polled: no batch then.
  if (sends && !(poll_events_ & UV_WRITABLE)) {
    sending_ = true;
    return sends->add(fd_, reinterpret_cast<const unsigned char*>(out_.data()), out_.size(),
                      &PublishConnection::on_sent, this);
  }
  ssize_t n = send(fd_, out_.data(), out_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  sent(n < 0 ? -errno : n);
}

void PublishConnection::on_sent(void* connection, ssize_t result, const unsigned char*, size_t) {
  auto* self = static_cast<PublishConnection*>(connection);
  self->sending_ = false;
  self->sent(result);
}

void PublishConnection::sent(ssize_t result) {
  if (result > 0) {
    out_.erase(0, static_cast<size_t>(result));
    last_progress_ms_ = now_ms();
  } else if (result < 0 && result != -EAGAIN && result != -EWOULDBLOCK && result != -EINTR) {
    return path_.drop(this);
  }
  // No answer became ready meanwhile: the batch ran within the same flush pass, where no broker
  // answers (listing this again from here would wait for the loop's next event).
  finish();
}

void PublishConnection::finish() {
  bool drained = answers_.empty() && out_.empty();
  if (drained && hand_over_) return path_.hand_over(this, release_fd());  // deletes this
  if (drained && (last_request_ || peer_done_)) return path_.drop(this);
  update_poll();
}

int PublishConnection::release_fd() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void PublishConnection::update_poll() {
  // A head cut short stays in the socket (it may be libwebsockets' yet), which therefore stays
  // readable: it is looked at again after a pause, 1 ms doubling up to 64 ms, rather than polled.
  if (head_pending_) {
    uv_timer_start(timer_, on_timer, repeek_ms_, 0);
    repeek_ms_ = std::min<uint64_t>(repeek_ms_ * 2, kMaxRepeekMs);
  } else {
    repeek_ms_ = 1;
  }
  bool reading = !head_pending_ && !peer_done_ && !hand_over_ && !last_request_ &&
                 answers_.size() < kMaxPendingAnswers && out_.size() < kMaxUnsentBytes;
  int events = (reading ? UV_READABLE : 0) | (out_.empty() ? 0 : UV_WRITABLE);
  if (events == poll_events_) return;  // no epoll_ctl while nothing changes
  poll_events_ = events;
  if (events)
    uv_poll_start(poll_, events, on_poll);
  else
    uv_poll_stop(poll_);
}

bool PublishConnection::still_wanted(int64_t now) const {
  // Waiting for the peer: to read what was written, or to send the rest of a request.
  bool waiting_for_peer = !out_.empty() || head_pending_ || (answers_.empty() && !in_.empty());
  if (waiting_for_peer) return now - last_progress_ms_ < kStalledMs;
  return !answers_.empty() || now - last_progress_ms_ < kIdleMs;  // a broker may answer late
}

}  // namespace rthub
