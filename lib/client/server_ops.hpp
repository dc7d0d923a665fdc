// server_ops.hpp: what the client does with each object the hub sends (message, subscribed,
// unsubscribed, published, error, ping, pong; snapshot, presence, join, leave in
// server_ops_state.cpp): positions, dedupe and gaps through the ChannelBook, answers matched to
// requests through the RequestBook, events to the EventSink.
#pragma once

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/channel_book.hpp"
#include "client/event_sink.hpp"
#include "client/request_book.hpp"
#include "client/wire.hpp"

namespace rthub::client {

class ServerOps {
 public:
  // What ServerOps asks of the connection.
  struct Hooks {
    // Ends the current connection (it is then replaced, with backoff).
    std::function<void(std::string reason)> drop_connection;
    // Sends the channel's subscribe again on the current WebSocket (after make_plain).
    std::function<void(const std::string& channel)> resubscribe;
    // Asks the hub for a presence channel's members on the current WebSocket.
    std::function<void(const std::string& channel)> ask_presence;
  };
  ServerOps(ChannelBook& book, RequestBook& requests, EventSink& sink, ClientCounters& counters,
            Hooks hooks);

  void dispatch(ServerObject& object);
  // The connection ended: snapshot parts still arriving are void.
  void connection_lost() { parts_.clear(); }

 private:
  void message(ServerObject& o);
  void subscribed(const ServerObject& o);
  void error(const ServerObject& o, const std::optional<RequestBook::Pending>& answered);
  void snapshot(ServerObject& o);
  void presence(ServerObject& o, const std::optional<RequestBook::Pending>& answered);
  void member_change(ServerObject& o);

  ChannelBook& book_;
  RequestBook& requests_;
  EventSink& sink_;
  ClientCounters& counters_;
  Hooks hooks_;
  // Snapshot channel -> the raw items of the parts received so far ("more":true).
  std::unordered_map<std::string, std::vector<std::string>> parts_;
};

}  // namespace rthub::client
