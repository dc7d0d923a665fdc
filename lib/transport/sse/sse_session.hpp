// sse_session.hpp: a Server-Sent Events stream at /events.
//
// Every event carries the stream's cursor as its `id:` line, so that a browser's automatic
// reconnect (Last-Event-ID) resumes every channel of the stream exactly. The `data:` part is the
// shared frame of WireFormat::kEventStream; only the short `id:` line is written per session.
#pragma once

#include <string>
#include <vector>

#include "transport/lws_glue.hpp"
#include "rthub/transport.hpp"

namespace rthub {

class SseSession final : public Session {
 public:
  SseSession(struct lws* wsi, std::string peer, int retry_ms)
      : Session(WireFormat::kEventStream, std::move(peer)), wsi_(wsi), retry_ms_(retry_ms) {}

  void want_write() override { lws_callback_on_writable(wsi_); }
  void close(CloseCode code, std::string_view reason) override;

  // Handles GET /events: answers 400 itself for bad parameters, else starts the stream.
  static int open(struct lws* wsi, ConnectionSlot& slot);
  int on_writable();

 private:
  struct lws* wsi_;
  int retry_ms_;
  bool started_ = false;  // the "retry:" preamble went out
  bool ending_ = false;
};

}  // namespace rthub
