// ws_kind.hpp: what the hub knows of WebSocket: "ws", complete unmasked RFC 6455 text frames,
// snapshots in parts no bigger than a message, and protocol pings to find dead peers.
#pragma once

#include <string>
#include <string_view>

#include "rthub/transport.hpp"

namespace rthub {

const TransportKind& websocket_kind();

// An unmasked server frame: FIN, `opcode`, the 7, 16 or 64 bit length, then `payload`.
std::string websocket_frame(unsigned char opcode, std::string_view payload);

}  // namespace rthub
