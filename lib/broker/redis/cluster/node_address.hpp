// node_address.hpp: where a cluster node listens, as "host:port" text and back.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rthub::cluster {

struct NodeAddress {
  std::string host;
  int port = 0;

  /* text returns "host:port" (the form MOVED replies and the seed list use). */
  std::string text() const { return host + ":" + std::to_string(port); }
  bool operator==(const NodeAddress& other) const {
    return host == other.host && port == other.port;
  }
  bool operator!=(const NodeAddress& other) const { return !(*this == other); }
};

/* parse_node_address reads "host:port" (split at the last ':', so "::1:7000" is IPv6). An empty
   host is allowed (Redis sends ":port" when it does not know its own address). Returns nothing
   for a missing or out-of-range port. */
std::optional<NodeAddress> parse_node_address(std::string_view text);

/* parse_seed_list reads "host:port[,host:port...]" (the --redis-cluster value). Returns nothing,
   with why in *error, when the list is empty or an entry is not host:port with a host. */
std::optional<std::vector<NodeAddress>> parse_seed_list(std::string_view text, std::string* error);

}  // namespace rthub::cluster
