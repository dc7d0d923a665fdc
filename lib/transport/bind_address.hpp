// bind_address.hpp: the addresses a server binds for "host:port", and whether one is free.
#pragma once

#include <netdb.h>

#include <functional>
#include <string>

namespace rthub {

// Calls `attempt` with each passive TCP address of host:port ("", "*" and "0.0.0.0": every IPv4
// interface) until one returns true; false when none did or the host does not resolve.
bool try_bind_addresses(const std::string& host, int port,
                        const std::function<bool(const struct addrinfo&)>& attempt);

// Whether host:port can be bound now by a socket without SO_REUSEPORT, so also not while another
// SO_REUSEPORT group holds it. Port 0 is always free.
bool can_bind(const std::string& host, int port);

}  // namespace rthub
