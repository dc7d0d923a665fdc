// sse_link.hpp: a Server-Sent Events stream from the hub's /events: the channels in the query,
// the resume cursor in Last-Event-ID, one JSON object per event.
#pragma once

#include <string>
#include <vector>

#include "client/link.hpp"
#include "client/sse_parser.hpp"

namespace rthub::client {

class SseLink final : public Link {
 public:
  // `cursor` is the hub's resume cursor ("" for none); `fallback` marks the stream as replacing
  // a WebSocket that could not be opened.
  SseLink(ClientLoop& loop, const LinkSettings& settings, LinkListener* listener,
          std::vector<std::string> channels, std::string cursor, bool fallback)
      : Link(loop, settings, listener),
        channels_(std::move(channels)),
        cursor_(std::move(cursor)),
        fallback_(fallback) {}

 protected:
  const char* method() const override { return "GET"; }
  std::string path() const override {
    bool snapshots = settings_.stream_snapshots && settings_.stream_snapshots();
    return settings_.endpoint.events_path(channels_, fallback_, snapshots);
  }
  int add_headers(unsigned char** p, unsigned char* end) override;
  int on_callback(enum lws_callback_reasons reason, void* in, size_t len) override;

 private:
  static constexpr size_t kMaxErrorBody = 4096;
  std::vector<std::string> channels_;
  std::string cursor_;
  bool fallback_;
  int status_ = 0;
  std::string error_body_;
  SseParser parser_;
};

}  // namespace rthub::client
