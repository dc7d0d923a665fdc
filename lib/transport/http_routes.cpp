// http_routes.cpp: the transports served over plain HTTP, one line each.
#include "transport/http_route.hpp"
#include "transport/sse/sse_session.hpp"

namespace rthub {

const std::vector<HttpRoute>& http_routes() {
  static const std::vector<HttpRoute> routes = {
      {"/events", &SseSession::open, &event_stream_kind, nullptr},
  };
  return routes;
}

}  // namespace rthub
