// http_exchange.hpp: one HTTP request and its answer, for what the client asks the hub while it
// streams over SSE or long-polling (no way back to the hub on the stream): POST /publish,
// GET /presence.
#pragma once

#include <functional>
#include <string>

#include "client/link.hpp"

namespace rthub::client {

class HttpExchange final : public Link {
 public:
  // `done(status, body, failure)`: status 0 and a failure text when no answer came.
  using Done = std::function<void(int status, const std::string& body, const std::string& failure)>;

  // `body` is sent as JSON when not empty (POST); an empty one sends none (GET).
  HttpExchange(ClientLoop& loop, const LinkSettings& settings, std::string path, std::string body,
               Done done)
      : Link(loop, settings, nullptr),
        path_(std::move(path)),
        body_(std::move(body)),
        done_(std::move(done)) {}

 protected:
  const char* method() const override { return body_.empty() ? "GET" : "POST"; }
  std::string path() const override { return path_; }
  int add_headers(unsigned char** p, unsigned char* end) override;
  int on_callback(enum lws_callback_reasons reason, void* in, size_t len) override;
  void report_end(const LinkEnd& end) override;

 private:
  static constexpr size_t kMaxAnswer = 64 * 1024;
  std::string path_;
  std::string body_;
  Done done_;
  int status_ = 0;
  std::string answer_;
  bool completed_ = false;
};

}  // namespace rthub::client
