// publish_exchange.hpp: one POST /publish, for publishing while the client streams over SSE
// (which has no way back to the hub).
#pragma once

#include <functional>
#include <string>

#include "client/link.hpp"

namespace rthub::client {

class PublishExchange final : public Link {
 public:
  // `done(status, body, failure)`: status 0 and a failure text when no answer came.
  using Done = std::function<void(int status, const std::string& body, const std::string& failure)>;

  PublishExchange(ClientLoop& loop, const LinkSettings& settings, std::string body, Done done)
      : Link(loop, settings, nullptr), body_(std::move(body)), done_(std::move(done)) {}

 protected:
  const char* method() const override { return "POST"; }
  std::string path() const override { return settings_.endpoint.publish_path(); }
  int add_headers(unsigned char** p, unsigned char* end) override;
  int on_callback(enum lws_callback_reasons reason, void* in, size_t len) override;
  void report_end(const LinkEnd& end) override;

 private:
  static constexpr size_t kMaxAnswer = 64 * 1024;
  std::string body_;
  Done done_;
  int status_ = 0;
  std::string answer_;
  bool completed_ = false;
};

}  // namespace rthub::client
