// The slot map and redirections, from replies written out in RESP and parsed by hiredis' own
// reader, so each test holds the same redisReply tree a live node would give.
#include <hiredis/hiredis.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "broker/redis/cluster/node_address.hpp"
#include "broker/redis/cluster/redirect.hpp"
#include "broker/redis/cluster/slot_map.hpp"

using namespace rthub::cluster;

namespace {

std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}
std::string num(long long n) {
  return ":" + std::to_string(n) + "\r\n";
}
std::string arr(const std::vector<std::string>& items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (const auto& i : items) out += i;
  return out;
}
// A Redis 7 node entry: host, port, id, metadata.
std::string node(const std::string& host, int port, const std::string& id) {
  return arr({bulk(host), num(port), bulk(id), arr({})});
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply parse(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  REQUIRE(redisReaderFeed(reader, resp.data(), resp.size()) == REDIS_OK);
  void* out = nullptr;
  REQUIRE(redisReaderGetReply(reader, &out) == REDIS_OK);
  redisReaderFree(reader);
  REQUIRE(out != nullptr);
  return Reply(static_cast<redisReply*>(out));
}

// Three masters with one replica each, as `redis-cli --cluster create` lays them out.
std::string three_shards() {
  return arr({
      arr({num(0), num(5460), node("127.0.0.1", 7000, "a"), node("127.0.0.1", 7004, "d")}),
      arr({num(5461), num(10922), node("127.0.0.1", 7001, "b"), node("127.0.0.1", 7005, "e")}),
      arr({num(10923), num(16383), node("127.0.0.1", 7002, "c"), node("127.0.0.1", 7003, "f")}),
  });
}

}  // namespace

TEST_CASE("SlotMap reads CLUSTER SLOTS of three shards") {
  std::string error;
  auto map = SlotMap::from_cluster_slots(parse(three_shards()).get(), "127.0.0.1", &error);
  REQUIRE(map);
  CHECK(error.empty());
  CHECK(map->covered_slots() == 16384);
  REQUIRE(map->shards().size() == 3);
  CHECK(map->shard_of(0)->master == NodeAddress{"127.0.0.1", 7000});
  CHECK(map->shard_of(5460)->master == NodeAddress{"127.0.0.1", 7000});
  CHECK(map->shard_of(5461)->master == NodeAddress{"127.0.0.1", 7001});
  CHECK(map->shard_of(16383)->master == NodeAddress{"127.0.0.1", 7002});
  REQUIRE(map->shard_of(16383)->replicas.size() == 1);
  CHECK(map->shard_of(16383)->replicas[0] == NodeAddress{"127.0.0.1", 7003});
  CHECK(map->shard_of(16384) == nullptr);
}

TEST_CASE("SlotMap joins the ranges of one master and leaves gaps uncovered") {
  std::string reply = arr({
      arr({num(0), num(99), node("10.0.0.1", 6379, "a")}),
      arr({num(200), num(299), node("10.0.0.1", 6379, "a"), node("10.0.0.2", 6379, "b")}),
      arr({num(300), num(300), arr({bulk(""), num(6380)})}),  // a Redis 3 node, empty host
  });
  std::string error;
  auto map = SlotMap::from_cluster_slots(parse(reply).get(), "seed.example", &error);
  REQUIRE(map);
  CHECK(map->shards().size() == 2);
  CHECK(map->covered_slots() == 201);
  CHECK(map->shard_of(150) == nullptr);
  CHECK(map->shard_of(99) == map->shard_of(250));
  CHECK(map->shard_of(300)->master == NodeAddress{"seed.example", 6380});
}

TEST_CASE("SlotMap refuses malformed replies with a reason") {
  std::string error;
  auto refuse = [&](const std::string& resp) {
    error.clear();
    auto map = SlotMap::from_cluster_slots(parse(resp).get(), "h", &error);
    CHECK_FALSE(map);
    CHECK_FALSE(error.empty());
    return error;
  };
  CHECK(refuse("-ERR This instance has cluster support disabled\r\n")
            .find("cluster support disabled") != std::string::npos);
  refuse(bulk("not an array"));
  refuse(arr({arr({num(0), num(16384), node("h", 1, "a")})}));     // past the last slot
  refuse(arr({arr({num(10), num(5), node("h", 1, "a")})}));        // reversed
  refuse(arr({arr({num(0), num(5)})}));                            // no master
  refuse(arr({arr({num(0), num(5), arr({bulk("h")})})}));          // no port
  refuse(arr({arr({num(0), num(5), arr({bulk("h"), num(0)})})}));  // port 0
  refuse(arr({arr({num(0), num(5), node("?", 7000, "a")})}));      // unknown endpoint
  refuse(arr({arr({bulk("0"), num(5), node("h", 7000, "a")})}));   // slot as text
  CHECK_FALSE(SlotMap::from_cluster_slots(nullptr, "h", &error));
}

TEST_CASE("SlotMap::move_slot patches one slot and same_masters notices") {
  std::string error;
  auto map = SlotMap::from_cluster_slots(parse(three_shards()).get(), "127.0.0.1", &error);
  REQUIRE(map);
  SlotMap before = *map;
  CHECK(map->same_masters(before));
  map->move_slot(3999, NodeAddress{"127.0.0.1", 7001});
  CHECK(map->shard_of(3999)->master == NodeAddress{"127.0.0.1", 7001});
  CHECK(map->shard_of(3998)->master == NodeAddress{"127.0.0.1", 7000});
  CHECK_FALSE(map->same_masters(before));
  map->move_slot(3999, NodeAddress{"127.0.0.1", 7009});  // a master not seen before
  CHECK(map->shards().size() == 4);
  CHECK(map->shard_of(3999)->master.port == 7009);
}

TEST_CASE("parse_redirect reads MOVED and ASK") {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(moved->kind == Redirect::Kind::kMoved);
  CHECK(moved->slot == 3999);
  CHECK(moved->target == NodeAddress{"127.0.0.1", 6381});

  auto ask = parse_redirect("ASK 16383 redis-2.internal:7000");
  REQUIRE(ask);
  CHECK(ask->kind == Redirect::Kind::kAsk);
  CHECK(ask->slot == 16383);
  CHECK(ask->target == NodeAddress{"redis-2.internal", 7000});

  auto ipv6 = parse_redirect("MOVED 1 ::1:7001");
  REQUIRE(ipv6);
  CHECK(ipv6->target == NodeAddress{"::1", 7001});

  auto no_host = parse_redirect("MOVED 12 :7002");  // the node does not know its address
  REQUIRE(no_host);
  CHECK(no_host->target.host.empty());
  CHECK(no_host->target.port == 7002);
}

TEST_CASE("parse_redirect refuses other errors and malformed redirections") {
  for (const char* text :
       {"ERR unknown command", "CLUSTERDOWN The cluster is down", "MOVED", "MOVED 3999",
        "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED x h:1", "MOVED 12 h",
        "MOVED 12 h:", "MOVED 12 h:99999", "MOVED 12 h:0", "ASK  h:1", "moved 1 h:1", "TRYAGAIN"}) {
    INFO(text);
    CHECK_FALSE(parse_redirect(text));
  }
}

TEST_CASE("parse_seed_list reads the --redis-cluster value") {
  std::string error;
  auto seeds = parse_seed_list("127.0.0.1:7000,redis-b:7001", &error);
  REQUIRE(seeds);
  REQUIRE(seeds->size() == 2);
  CHECK((*seeds)[1] == NodeAddress{"redis-b", 7001});
  for (const char* bad : {"", "h", ":7000", "h:7000,", "h:70000", "h:7000,,h:7001"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_seed_list(bad, &error));
    CHECK_FALSE(error.empty());
  }
}

namespace {

// A Redis 7 CLUSTER SHARDS node entry.
std::string shard_node(const std::string& endpoint, int port, const std::string& role,
                       const std::string& health) {
  return arr({bulk("id"), bulk(role + std::to_string(port)), bulk("port"), num(port), bulk("ip"),
              bulk("127.0.0.1"), bulk("endpoint"), bulk(endpoint), bulk("role"), bulk(role),
              bulk("replication-offset"), num(72156), bulk("health"), bulk(health)});
}

std::string shard(const std::vector<std::string>& slots, const std::vector<std::string>& nodes) {
  return arr({bulk("slots"), arr(slots), bulk("nodes"), arr(nodes)});
}

}  // namespace

TEST_CASE("SlotMap reads CLUSTER SHARDS and agrees with CLUSTER SLOTS") {
  std::string reply = arr({
      shard({num(0), num(5460)}, {shard_node("127.0.0.1", 7000, "master", "online"),
                                  shard_node("127.0.0.1", 7004, "replica", "online")}),
      shard({num(5461), num(10922)}, {shard_node("127.0.0.1", 7005, "replica", "online"),
                                      shard_node("127.0.0.1", 7001, "master", "online")}),
      shard({num(10923), num(16383)}, {shard_node("127.0.0.1", 7002, "master", "online"),
                                       shard_node("127.0.0.1", 7003, "replica", "online")}),
  });
  std::string error;
  auto from_shards = SlotMap::from_cluster_shards(parse(reply).get(), "127.0.0.1", &error);
  REQUIRE(from_shards);
  auto from_slots = SlotMap::from_cluster_slots(parse(three_shards()).get(), "127.0.0.1", &error);
  REQUIRE(from_slots);
  CHECK(from_shards->same_masters(*from_slots));
  CHECK(from_shards->covered_slots() == 16384);
  REQUIRE(from_shards->shard_of(6000)->replicas.size() == 1);
  CHECK(from_shards->shard_of(6000)->replicas[0].port == 7005);
}

TEST_CASE("SlotMap from CLUSTER SHARDS: a failed master leaves its slots uncovered") {
  std::string reply = arr({
      shard({num(0), num(99), num(200), num(299)},  // two ranges in one shard
            {shard_node("10.0.0.1", 7000, "master", "online"),
             shard_node("", 7004, "replica", "loading")}),
      shard({bulk("100"), bulk("199")},  // bounds as text
            {shard_node("10.0.0.2", 7001, "master", "fail"),
             shard_node("10.0.0.3", 7005, "replica", "online")}),
      shard({num(300), num(300)},
            {shard_node("", 7006, "master", "online")}),  // endpoint unknown to itself
  });
  std::string error;
  auto map = SlotMap::from_cluster_shards(parse(reply).get(), "seed", &error);
  REQUIRE(map);
  CHECK(map->covered_slots() == 201);
  CHECK(map->shard_of(150) == nullptr);
  CHECK(map->shard_of(250)->master.port == 7000);
  CHECK(map->shard_of(250)->replicas.empty());  // the loading replica is left out
  CHECK(map->shard_of(300)->master == NodeAddress{"127.0.0.1", 7006});
}

TEST_CASE("SlotMap refuses malformed CLUSTER SHARDS replies") {
  std::string error;
  auto refused = [&](const std::string& resp) {
    error.clear();
    bool refused = !SlotMap::from_cluster_shards(parse(resp).get(), "h", &error);
    CHECK_FALSE(error.empty());
    return refused;
  };
  CHECK(refused("-ERR unknown subcommand 'SHARDS'\r\n"));
  CHECK(refused(num(3)));
  CHECK(refused(arr({arr({bulk("slots"), arr({num(0)}), bulk("nodes"), arr({})})})));  // odd bounds
  CHECK(refused(arr({shard({num(0), num(16384)}, {shard_node("h", 1, "master", "online")})})));
  CHECK(refused(arr({shard({num(9), num(1)}, {shard_node("h", 1, "master", "online")})})));
  CHECK(refused(arr({shard({num(0), num(1)}, {shard_node("?", 1, "master", "online")})})));
  CHECK(refused(arr({shard({num(0), num(1)}, {arr({bulk("role"), bulk("master")})})})));  // no port
  CHECK(refused(arr({arr({bulk("nodes"), arr({})})})));  // no slots
}
