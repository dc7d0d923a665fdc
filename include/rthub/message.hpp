// message.hpp: a published message, its position in its channel, and its encodings.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "rthub/export.h"

namespace rthub {

// Where a message sits in its channel: `seq` increases by exactly one per message; `epoch`
// changes whenever the channel's numbering restarts (history lost, hub restarted).
struct Position {
  std::string epoch;
  uint64_t seq = 0;
};

inline bool operator==(const Position& a, const Position& b) {
  return a.seq == b.seq && a.epoch == b.epoch;
}

// A message with its assigned position. `data` is the publisher's JSON value as text, passed
// through byte for byte.
struct Message {
  std::string channel;
  std::string type = "message";
  std::string data;
  Position position;
  int64_t ts_ms = 0;            // hub's publish time, wall clock, milliseconds since the Unix epoch
  std::string idempotency_key;  // empty: none (see PublishOptions in hub.hpp)
  // Keyed state: when `key` is not empty the channel keeps this message as the key's latest (its
  // snapshot item); with `deleted` the message removes the key instead.
  std::string key;
  bool deleted = false;
  std::string timestamp;  // raw JSON of a bridged publisher's "timestamp"; empty: none
};

// How many transports (TransportKind, transport.hpp) a process may register. Each message is
// encoded at most once per transport in use.
constexpr size_t kMaxTransports = 4;

// Immutable encoded bytes shared by every session that sends them.
using Frame = std::shared_ptr<const std::string>;

// A message plus its lazily built encodings. Shared (never copied) by the history and by every
// subscriber's queue; the encodings are filled on the service thread only.
struct Envelope {
  Message message;
  int64_t published_us = 0;  // monotonic clock, for publish-to-write latency
  mutable Frame json;        // the message object, encoded once and framed from there
  mutable std::array<Frame, kMaxTransports> frames;  // by TransportKind::index()
};
using EnvelopePtr = std::shared_ptr<const Envelope>;

// True when `name` is 1-255 bytes of [A-Za-z0-9_.:@/-].
RTHUB_API bool is_valid_channel_name(std::string_view name) noexcept;

}  // namespace rthub
