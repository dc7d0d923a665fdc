// publish_call.hpp: POST /publish apart from the parser that read it: who may publish, and the
// body published and answered. libwebsockets' HTTP path (HttpExchange) and the hub's own publish
// connections (publish/publish_connection.hpp) both use it, so a publish is answered the same
// whichever read it.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/codec.hpp"

namespace rthub {

class HubCore;
struct HubOptions;

// An answer to a publish: 200 with its JSON, or an error status with its code and message.
struct PublishAnswer {
  int status = 200;
  codec::ErrorCode code{};  // when status is not 200
  std::string text;         // the error's message, or the 200 answer's JSON
};

// The answer's body: `text` for a 200, else `{"error":{"code","message"}}`.
std::string publish_answer_body(const PublishAnswer& answer);
std::string error_json(codec::ErrorCode code, const std::string& message);

// Whether a peer may publish: its Origin must be allowed; with a publish key the request carries
// `Authorization: Bearer <key>`, without one the peer is on loopback. The refusal, if not.
std::optional<PublishAnswer> publish_refusal(const HubOptions& options, const HubCore& core,
                                             const std::string& origin,
                                             const std::string& authorization,
                                             const std::string& peer);

// Publishes a request body (one request object or an array of them, all checked before any is
// published) and calls `done` once with the answer, now or when the broker has answered.
void publish_json(HubCore& core, const std::string& body,
                  std::function<void(const PublishAnswer&)> done);

}  // namespace rthub
