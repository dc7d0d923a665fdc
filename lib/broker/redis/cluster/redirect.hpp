// redirect.hpp: the redirections a cluster node answers with when it does not serve a key.
//
// "MOVED <slot> <host:port>": the slot lives elsewhere for good; send there and refresh the map.
// "ASK <slot> <host:port>": the slot is migrating; send this one command there, preceded by
// ASKING, and keep the map as it is (the cluster specification, "Redirection and resharding").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "broker/redis/cluster/node_address.hpp"

namespace rthub::cluster {

struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind;
  uint16_t slot;
  NodeAddress target;  // host may be empty: the node meant "the host you reached me on"
};

/* parse_redirect reads the text of an error reply; nothing when it is not a well-formed MOVED or
   ASK (any other error, a slot out of range, a bad address). */
std::optional<Redirect> parse_redirect(std::string_view error_text);

}  // namespace rthub::cluster
