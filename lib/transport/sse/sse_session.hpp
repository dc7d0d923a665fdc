// sse_session.hpp: a Server-Sent Events stream at /events.
//
// Every event carries the stream's cursor as its `id:` line, so that a browser's automatic
// reconnect (Last-Event-ID) resumes every channel of the stream exactly. The `data:` part is the
// shared frame of event_stream_kind(); only the short `id:` line is written per session.
//
// A stream is answered only once every channel is authorized (the host's hook may answer
// later): then with 200 and the stream, or with 403 and no stream.
#pragma once

#include <string>
#include <vector>

#include "transport/http_route.hpp"
#include "transport/lws_session.hpp"
#include "transport/sse/sse_kind.hpp"

namespace rthub {

class SseSession final : public LwsSession, public HttpStream {
 public:
  SseSession(struct lws* wsi, std::string peer, int retry_ms)
      : LwsSession(event_stream_kind(), wsi, std::move(peer)), retry_ms_(retry_ms) {}

  void close(CloseCode code, std::string_view reason) override;

  // Handles GET /events: answers errors itself, else starts authorizing the stream.
  static int open(struct lws* wsi, ConnectionSlot& slot);
  int on_writable() override;
  void on_closed() override;

 private:
  enum class Phase { kAuthorizing, kRefused, kStarting, kStreaming };
  bool streaming() const override { return phase_ == Phase::kStreaming && !ending_; }
  int write_queued(SocketBatch* sends) override;
  int write_head();

  int retry_ms_;
  Phase phase_ = Phase::kAuthorizing;
  std::vector<std::string> channels_;
  std::string cursor_;     // the resume cursor the stream was opened with
  bool snapshot_ = false;  // ?snapshot=1: keyed snapshots of the channels not resumed
  std::string refused_channel_;
  std::string write_retry_;  // the "retry:" preamble, written before the first events
  bool ending_ = false;
};

}  // namespace rthub
