// How the Redis broker's commands are routed on a cluster, and the sharded form of its scripts.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "broker/redis/cluster/cluster_commands.hpp"
#include "broker/redis/scripts.hpp"

using rthub::cluster::routing_key;
using rthub::cluster::sharded_script;

TEST_CASE("routing_key routes a script by its first key and a keyed command by its key") {
  CHECK(routing_key({"EVALSHA", "abc", "1", "rthub:{news}:", "x"}) ==
        std::optional<std::string>("rthub:{news}:"));
  CHECK(routing_key({"eval", "return 1", "1", "rthub:{a}:"}) ==
        std::optional<std::string>("rthub:{a}:"));
  CHECK(routing_key({"XRANGE", "rthub:{news}:log", "5-1", "+"}) ==
        std::optional<std::string>("rthub:{news}:log"));
}

TEST_CASE("routing_key leaves commands any node answers unrouted") {
  CHECK_FALSE(routing_key({}));
  CHECK_FALSE(routing_key({"PING"}));
  CHECK_FALSE(routing_key({"PUBLISH", "rthub:ping:ab", "3"}));
  CHECK_FALSE(routing_key({"script", "LOAD", "return 1"}));
  CHECK_FALSE(routing_key({"EVALSHA", "abc", "0"}));
  CHECK_FALSE(routing_key({"EVAL", "return 1", "1"}));  // declares a key it does not give
}

TEST_CASE("sharded_script turns every PUBLISH call into SPUBLISH and nothing else") {
  CHECK(sharded_script("redis.call('PUBLISH', k, v) redis.call('PUBLISH', a, b)") ==
        "redis.call('SPUBLISH', k, v) redis.call('SPUBLISH', a, b)");
  CHECK(sharded_script("return redis.call('GET', k)") == "return redis.call('GET', k)");
  CHECK(sharded_script("") == "");
  // The publish script's record goes out sharded on a cluster.
  std::string publish = sharded_script(rthub::redis_scripts::kPublish);
  CHECK(publish.find("redis.call('SPUBLISH', base .. 'm'") != std::string::npos);
  CHECK(publish.find("redis.call('PUBLISH',") == std::string::npos);
}
