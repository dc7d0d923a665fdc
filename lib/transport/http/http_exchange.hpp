// http_exchange.hpp: plain HTTP requests: POST /publish, GET /metrics, GET /healthz, and the
// error answers of the other endpoints. The answer is written from the writable callback, so an
// asynchronous broker can answer a publish later.
//
// Pipelining: libwebsockets 4.1.6 cannot go on with requests it has already read behind the one
// being answered (a request parsed from its buflist gets its own headers as body, or is swallowed
// and the previous one replayed; see of() and on_body_complete()). So an answer keeps the
// connection only when nothing has come in behind its request; otherwise it says
// `Connection: close` and the connection closes after it, and the client sends the rest again.
// Likewise when a refused body is not read whole yet.
#pragma once

#include <memory>
#include <string>

#include "core/codec.hpp"
#include "transport/lws_glue.hpp"

namespace rthub {

struct PublishAnswer;

class HttpExchange {
 public:
  // LWS_CALLBACK_HTTP for a path this file serves. Returns the lws callback result.
  static int on_request(struct lws* wsi, ConnectionSlot& slot, const std::string& method,
                        const std::string& path);
  // Queues a JSON error answer `{"error":{"code","message"}}` with `status`. Returns the lws
  // callback result (-1 when the connection is to close at once).
  static int reply_error(struct lws* wsi, ConnectionSlot& slot, int status, codec::ErrorCode code,
                         const std::string& text);

  int on_body(const void* data, size_t len);
  int on_body_complete();
  int on_writable();
  // Writes a ready answer to a request with a body, from the server's end-of-iteration pass
  // (outside any lws callback), unless the connection is to close: that goes through
  // on_writable. A publisher waits for this answer before its next request, so it goes out
  // before the iteration's deliveries are flushed, not after an epoll round trip.
  void answer_now();
  // The connection closed; an answer still being prepared is dropped.
  void abandon() { alive_->value = false; }

 private:
  struct Alive {
    bool value = true;
  };
  explicit HttpExchange(struct lws* wsi) : wsi_(wsi), alive_(std::make_shared<Alive>()) {}
  static HttpExchange& of(struct lws* wsi, ConnectionSlot& slot);
  void route(const std::string& method, const std::string& path);
  int queued();
  void error(int status, codec::ErrorCode code, const std::string& text);
  void reply(int status, const char* content_type, std::string body);
  void publish_body();
  void answer(const PublishAnswer& outcome);
  // GET /history?channel=C[&limit=N][&before=SEQ|&after=SEQ], answered when the store has read.
  void history();
  int write_answer(bool close);

  struct lws* wsi_;
  std::shared_ptr<Alive> alive_;
  bool publishing_ = false;
  bool answer_pending_ = false;  // a bodiless request answered later (GET /history)
  bool too_large_ = false;
  bool expects_body_ = false;     // lws reads a body after the headers (HTTP_BODY ... COMPLETION)
  bool body_done_ = false;        // HTTP_BODY_COMPLETION came
  bool pipelined_ = false;        // bytes of a next request are buffered behind this one
  bool close_when_sent_ = false;  // answered outside a callback, partly sent: close once sent
  enum class Replay { kNo, kSame, kOther };
  Replay replay_ = Replay::kNo;  // lws re-ran the headers of a request whose answer is unsent
  std::string body_;
  int status_ = 0;
  const char* content_type_ = nullptr;
  std::string answer_;
};

}  // namespace rthub
