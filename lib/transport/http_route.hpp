// http_route.hpp: transports served over plain HTTP requests (SSE at /events, long-polling at
// /poll). A route's open() answers errors itself or puts an HttpStream in the connection's slot;
// the connection's later events go to that stream. The routes are listed in http_routes.cpp.
#pragma once

#include <vector>

#include "rthub/transport.hpp"
#include "transport/lws_glue.hpp"

namespace rthub {

class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // LWS_CALLBACK_HTTP_WRITEABLE; returns the lws callback result.
  virtual int on_writable() = 0;
  // The connection is gone: the stream lets go of the hub and deletes itself.
  virtual void on_closed() = 0;
};

struct HttpRoute {
  const char* path;  // exact path, GET only
  int (*open)(struct lws* wsi, ConnectionSlot& slot);
  const TransportKind& (*kind)();  // named in metrics from the start
  // Called every HubCore::kTickMs on the service thread (also while the hub stops), or null.
  void (*tick)(ServerContext& server, int64_t now_ms);
};

const std::vector<HttpRoute>& http_routes();

}  // namespace rthub
