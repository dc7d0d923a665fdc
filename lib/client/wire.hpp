// wire.hpp: the client's side of the protocol: reading the hub's objects (both transports) and
// writing requests (WebSocket) and publish bodies (HTTP).
//
// `data` is kept as the exact bytes the hub sent, so a publisher's JSON reaches the host
// untouched; nothing is built into a DOM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rthub/message.hpp"

namespace rthub::client {

enum class ServerOp {
  kUnknown,
  kMessage,
  kSubscribed,
  kUnsubscribed,
  kPublished,
  kError,
  kPing,
  kPong,
  kSnapshot,
  kPresence,
  kJoin,
  kLeave
};

struct ServerObject {
  ServerOp op = ServerOp::kUnknown;
  std::string op_name;
  std::string channel, epoch, type;
  uint64_t seq = 0;
  bool has_seq = false;
  int64_t ts_ms = 0;
  std::optional<bool> recovered;
  std::string data;             // raw JSON of "data"
  std::string key;              // keyed messages
  bool deleted = false;         // "delete":true
  bool more = false;            // a snapshot part that is not the last
  std::string items;            // raw JSON of a snapshot's "items"
  std::string members;          // raw JSON of a presence answer's "clients" or join/leave "client"
  std::string code, message;    // error objects
  std::optional<uint64_t> ref;  // the request id it answers (we only send numeric ids)
};

// Reads one server object. False (with `error`) when it is not a JSON object; unknown ops and
// fields are not errors (the protocol may grow).
bool decode_server_object(std::string_view text, ServerObject& out, std::string& error);

// An HTTP request the hub refused: the code and message of its {"error":{...}} body, or, without
// one, a code for the status and "<request> answered HTTP <status>".
struct HttpRefusal {
  std::string code, message;
};
HttpRefusal decode_http_refusal(int http_status, std::string_view body, std::string_view request);

// The answer of POST /publish: a position, or the hub's error code and message.
struct PublishAnswer {
  bool ok = false;
  std::string channel;
  Position position;
  std::string code, message;
};
PublishAnswer decode_publish_answer(int http_status, std::string_view body);

// What a publish carries besides its channel, type and data.
struct PublishKey {
  std::string key;  // "" for none
  bool deleted = false;
};

// Requests over WebSocket. `data` must be valid JSON (it is copied in raw); an empty `data` is
// sent as null (a delete needs none).
std::string encode_subscribe(std::string_view channel, const std::optional<Position>& since,
                             uint64_t id, bool snapshot = false, bool presence = false);
std::string encode_presence(std::string_view channel, uint64_t id);
std::string encode_unsubscribe(std::string_view channel, uint64_t id);
std::string encode_publish(std::string_view channel, std::string_view type, std::string_view data,
                           uint64_t id, const PublishKey& key = {});
std::string encode_ping(uint64_t id);
// The body of POST /publish.
std::string encode_publish_body(std::string_view channel, std::string_view type,
                                std::string_view data, const PublishKey& key = {});

// True when `text` is exactly one JSON value.
bool is_json_value(std::string_view text);

}  // namespace rthub::client
