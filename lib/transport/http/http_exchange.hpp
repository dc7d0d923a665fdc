// http_exchange.hpp: plain HTTP requests: POST /publish, GET /metrics, GET /healthz, and the
// error answers of the other endpoints. The answer is written from the writable callback, so an
// asynchronous broker can answer a publish later.
#pragma once

#include <memory>
#include <string>

#include "core/codec.hpp"
#include "transport/lws_glue.hpp"

namespace rthub {

class HttpExchange {
 public:
  // LWS_CALLBACK_HTTP for a path this file serves. Returns the lws callback result.
  static int on_request(struct lws* wsi, ConnectionSlot& slot, const std::string& method, const std::string& path);
  // Queues a JSON error answer `{"error":{"code","message"}}` with `status`.
  static int reply_error(struct lws* wsi, ConnectionSlot& slot, int status, codec::ErrorCode code, const std::string& text);

  int on_body(const void* data, size_t len);
  int on_body_complete();
  int on_writable();
  // The connection closed; an answer still being prepared is dropped.
  void abandon() { alive_->value = false; }

 private:
  struct Alive {
    bool value = true;
  };
  explicit HttpExchange(struct lws* wsi) : wsi_(wsi), alive_(std::make_shared<Alive>()) {}
  static HttpExchange& of(struct lws* wsi, ConnectionSlot& slot);
  void reply(int status, const char* content_type, std::string body);
  void publish_body();

  struct lws* wsi_;
  std::shared_ptr<Alive> alive_;
  bool publishing_ = false;
  bool too_large_ = false;
  std::string body_;
  int status_ = 0;
  const char* content_type_ = nullptr;
  std::string answer_;
};

}  // namespace rthub
