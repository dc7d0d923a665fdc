// http_routes.cpp: the transports served over plain HTTP, one line each.
#include "transport/http_route.hpp"
#include "transport/poll/poll_kind.hpp"
#include "transport/poll/poll_request.hpp"
#include "transport/poll/poll_session.hpp"
#include "transport/sse/sse_session.hpp"

namespace rthub {

const std::vector<HttpRoute>& http_routes() {
  static const std::vector<HttpRoute> routes = {
      {"/events", &SseSession::open, &event_stream_kind, nullptr},
      {"/poll", &PollRequest::open, &poll_kind, &PollRegistry::tick},
  };
  return routes;
}

}  // namespace rthub
