// cluster_commands.hpp: how the Redis broker's commands change on a Redis Cluster: which key routes
// each command to its master, and the scripts' sharded form.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rthub::cluster {

/* routing_key returns the key whose slot's master must run args: the first key of EVAL and
   EVALSHA (nothing when they declare no key), args[1] for a command on a key. Returns nothing
   for commands any node answers: PING, PUBLISH (a cluster broadcasts classic pub/sub to every
   node), SCRIPT, CLIENT, AUTH, and an empty command. */
std::optional<std::string> routing_key(const std::vector<std::string>& args);

/* sharded_script returns a script body with every redis.call('PUBLISH', ...) turned into
   redis.call('SPUBLISH', ...): on a cluster a record reaches only the shard that owns its
   channel's slot, where the nodes that serve the channel SSUBSCRIBE, instead of every node. */
std::string sharded_script(const std::string& body);

}  // namespace rthub::cluster
