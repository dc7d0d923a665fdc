// server_ops.hpp: what the client does with each object the hub sends (message, subscribed,
// unsubscribed, published, error, ping, pong): positions, dedupe and gaps through the ChannelBook,
// answers matched to requests through the RequestBook, events to the EventSink.
#pragma once

#include <functional>
#include <string>

#include "client/channel_book.hpp"
#include "client/event_sink.hpp"
#include "client/request_book.hpp"
#include "client/wire.hpp"

namespace rthub::client {

class ServerOps {
 public:
  // `drop_connection` ends the current connection (it is then replaced, with backoff).
  ServerOps(ChannelBook& book, RequestBook& requests, EventSink& sink, ClientCounters& counters,
            std::function<void(std::string reason)> drop_connection);

  void dispatch(ServerObject& object);

 private:
  void message(ServerObject& o);
  void subscribed(const ServerObject& o);
  void error(const ServerObject& o, const std::optional<RequestBook::Pending>& answered);

  ChannelBook& book_;
  RequestBook& requests_;
  EventSink& sink_;
  ClientCounters& counters_;
  std::function<void(std::string)> drop_connection_;
};

}  // namespace rthub::client
