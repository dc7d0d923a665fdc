// channel_name.hpp: the one wording of a refused channel name, for the hub, the client and the C
// ABI alike (docs/PROTOCOL.md quotes it). The rule itself is is_valid_channel_name (message.hpp).
#pragma once

#include <string>
#include <string_view>

namespace rthub {

// "bad channel name: 1-255 bytes of [A-Za-z0-9_.:@/-]": what the hub answers a peer (without
// echoing the name back).
const char* bad_channel_name_text() noexcept;

// "bad channel name 'NAME': 1-255 bytes of [A-Za-z0-9_.:@/-]": for a host's own call, where
// naming the culprit helps.
std::string bad_channel_name_text(std::string_view name);

// Throws Error(kInvalid, bad_channel_name_text(name)) unless `name` is a valid channel name.
void check_channel_name(std::string_view name);

}  // namespace rthub
