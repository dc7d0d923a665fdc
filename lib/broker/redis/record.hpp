// record.hpp: how a message is stored in Redis (stream entries and pub/sub payloads).
//
// "<epoch> <seq> <ts_ms> [T<length>:<timestamp> ][K<length>:<key> |X<length>:<key> ]<type
// length>:<type><data>": the Lua script that assigns the position builds it, so every node reads
// the same position, type and data bytes. The optional parts carry a bridged publisher's own
// "timestamp" (raw JSON) and a keyed message's key (K: the key's latest message, X: its delete).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rthub/message.hpp"

namespace rthub::redis_record {

// The record's fields, or nothing when `text` is not a record.
std::optional<Message> decode(std::string_view channel, std::string_view text);

}  // namespace rthub::redis_record
