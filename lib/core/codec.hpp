// codec.hpp: the server->client objects of the protocol, and their wire frames.
//
// Objects are written straight into strings (no DOM); the publisher's `data` and the request's
// `id` are copied in as the raw JSON they arrived as.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "rthub/message.hpp"
#include "rthub/transport.hpp"

namespace rthub::codec {

// Error codes of the protocol. kUnavailable: surely not published (when it answers a publish);
// kUnknownOutcome: a publish that may or may not have been published (retry it with its key).
enum class ErrorCode {
  kBadRequest,
  kUnauthorized,
  kForbidden,
  kTooLarge,
  kLimit,
  kNotFound,
  kUnavailable,
  kInternal,
  kUnknownOutcome,
  kTooManyKeys,
  kUnsupported,
};
constexpr size_t kErrorCodeCount = static_cast<size_t>(ErrorCode::kUnsupported) + 1;
const char* error_code_name(ErrorCode code);

std::string message(const Message& m);
// `recovered` is absent when no resume position was asked for; `ref` is raw JSON or empty.
std::string subscribed(std::string_view channel, const Position& latest,
                       std::optional<bool> recovered, std::string_view ref);
std::string unsubscribed(std::string_view channel, std::string_view ref);
std::string published(std::string_view channel, const Position& position, std::string_view ref);
std::string error(ErrorCode code, std::string_view text, std::string_view ref);
std::string pong(std::string_view ref);
// Answer to {"op":"refresh"}: the new token's expiry (0: none).
std::string refreshed(int64_t expires_at, std::string_view ref);
std::string ping(int64_t ts_ms);
// One part of a snapshot: `items` is the comma-separated message objects it carries; `more` on
// every part but the last.
// Presence: `client` is a client object {"id":N,"user":...}, `clients` a JSON array of them.
std::string presence_client(uint64_t id, const std::string* user);
std::string presence_event(std::string_view op, std::string_view channel, std::string_view client);
std::string presence(std::string_view channel, std::string_view clients, std::string_view ref);
std::string snapshot(std::string_view channel, const Position& at, std::string_view items,
                     bool more);

// `json` in the bytes `kind` sends, shared.
Frame make_frame(const TransportKind& kind, std::string_view json);

// The envelope's frame for `kind`, encoded on first use and kept until forget_frames(); the
// message's JSON is encoded once for every kind.
// The cached case is inline: it is the whole cost of a delivery after the first.
const Frame& encode_envelope_frame(const Envelope& envelope, const TransportKind& kind);
inline const Frame& envelope_frame(const Envelope& envelope, const TransportKind& kind) {
  const Frame& slot = envelope.frames[kind.index()];
  return slot ? slot : encode_envelope_frame(envelope, kind);
}
// Drops the envelope's cached frames (queues that hold them keep them alive): retained history
// then costs the message text alone, and a replay encodes again.
void forget_frames(const Envelope& envelope);

}  // namespace rthub::codec
