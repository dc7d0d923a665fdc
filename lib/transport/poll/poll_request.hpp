// poll_request.hpp: one GET /poll?channel=C[&channel=D...][&cursor=CUR][&snapshot=1].
//
// The request finds its poller's state by the token in its cursor (or opens a new one from the
// cursor's positions), and is held until the state has something to send or the poll timeout
// passes. The answer is {"cursor":"...","messages":[...]}: the queued objects, at most about
// kMaxAnswerBytes of them, and the cursor after the last one. The connection then stays open for
// the next poll.
#pragma once

#include <string>
#include <vector>

#include "transport/http_route.hpp"

namespace rthub {

class PollSession;
class PollRegistry;

class PollRequest final : public HttpStream {
 public:
  static constexpr size_t kMaxAnswerBytes = 1 << 20;

  // Handles GET /poll: answers errors itself, else holds the request.
  static int open(struct lws* wsi, ConnectionSlot& slot);

  int on_writable() override;
  void on_closed() override;
  // Asks for the writable callback that answers; `due`: answer even with nothing to send.
  void answer_soon(bool due = false);
  // The state was deleted under the request (the registry went away).
  void forget_session() { session_ = nullptr; }
  // The hub refused a channel: the answer is 403.
  void refuse(const std::string& channel);

 private:
  PollRequest(struct lws* wsi, PollSession& session, std::string origin)
      : wsi_(wsi), session_(&session), origin_(std::move(origin)) {}
  int write_answer(int status, const std::string& body);

  struct lws* wsi_;
  PollSession* session_;
  std::string origin_;  // for CORS: the request's headers are given back while it is held
  bool due_ = false;
  bool refused_ = false;
  std::string refused_channel_;
};

}  // namespace rthub
