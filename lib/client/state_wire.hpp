// state_wire.hpp: reading the parts of the hub's keyed-state and presence objects that the
// client hands over structured: a snapshot's items and presence members.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rthub/client.hpp"

namespace rthub::client {

// The elements of a JSON array, each as its exact text. `array` must be valid JSON (the
// ServerObject reader checked it); false when it is not an array.
bool split_json_array(std::string_view array, std::vector<std::string_view>& elements);

// A snapshot's "items" (message objects) as KeyedMessages; items without a key are skipped (the
// hub never sends them). False (with `error`) when an item is not a message object.
bool decode_snapshot_items(std::string_view items, std::vector<KeyedMessage>& out,
                           std::string& error);

// Presence members: `raw` is an array of {"id","user"} objects (a presence answer) or one such
// object (join, leave). False (with `error`) when a member has no numeric id.
bool decode_members(std::string_view raw, std::vector<PresenceMember>& out, std::string& error);

}  // namespace rthub::client
