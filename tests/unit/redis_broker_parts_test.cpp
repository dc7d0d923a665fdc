// The Redis broker's pure parts: per-channel subscription batching, the bridge backlog that a
// taker-over of the ingest lease continues from, and the record with a bridged "timestamp".
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/redis/bridge_backlog.hpp"
#include "broker/redis/channel_subscriptions.hpp"
#include "broker/redis/record.hpp"
#include "core/codec.hpp"
#include "core/json_scan.hpp"

using namespace rthub;

namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> hashes_newest_first(const std::vector<std::string>& payloads) {
  std::vector<std::string> out;
  for (auto it = payloads.rbegin(); it != payloads.rend(); ++it)
    out.push_back(BridgeBacklog::hash(*it));
  return out;
}

}  // namespace

TEST_CASE("subscriptions: many channels wanted in one iteration make one batch") {
  ChannelSubscriptions subs;
  for (int i = 0; i < 100; ++i) subs.want("ch." + std::to_string(i));
  CHECK_FALSE(subs.want("ch.0"));  // a second subscriber changes nothing
  auto batch = subs.take_batch();
  CHECK(batch.subscribe.size() == 100);
  CHECK(batch.unsubscribe.empty());
  CHECK_FALSE(subs.has_changes());
  CHECK_FALSE(subs.active("ch.1"));
  CHECK(subs.on_subscribed("ch.1"));
  CHECK(subs.active("ch.1"));
  CHECK(subs.active_count() == 1);
}

TEST_CASE(
    "subscriptions: a channel left before Redis confirmed is unsubscribed after the confirmation") {
  ChannelSubscriptions subs;
  subs.want("a");
  CHECK(subs.take_batch().subscribe == std::vector<std::string>{"a"});
  CHECK(subs.unwant("a"));
  CHECK(subs.take_batch().unsubscribe.empty());  // SUBSCRIBE still in flight
  CHECK_FALSE(subs.on_subscribed("a"));          // not wanted any more: no gap fill
  CHECK(subs.has_changes());
  auto batch = subs.take_batch();
  CHECK(batch.unsubscribe == std::vector<std::string>{"a"});
  subs.on_unsubscribed("a");
  CHECK_FALSE(subs.has_changes());
  CHECK_FALSE(subs.wanted("a"));
}

TEST_CASE("subscriptions: wanted again while the UNSUBSCRIBE is in flight subscribes after it") {
  ChannelSubscriptions subs;
  subs.want("a");
  subs.take_batch();
  subs.on_subscribed("a");
  subs.unwant("a");
  CHECK(subs.take_batch().unsubscribe == std::vector<std::string>{"a"});
  subs.want("a");
  CHECK(subs.take_batch().subscribe.empty());
  subs.on_unsubscribed("a");
  CHECK(subs.take_batch().subscribe == std::vector<std::string>{"a"});
  CHECK(subs.on_subscribed("a"));
}

TEST_CASE("subscriptions: want and leave in the same iteration send nothing") {
  ChannelSubscriptions subs;
  subs.want("a");
  subs.unwant("a");
  auto batch = subs.take_batch();
  CHECK(batch.subscribe.empty());
  CHECK(batch.unsubscribe.empty());
  CHECK_FALSE(subs.wanted("a"));
}

TEST_CASE(
    "subscriptions: a lost link makes every wanted channel due again, and forgets the others") {
  ChannelSubscriptions subs;
  for (const char* c : {"a", "b", "c"}) subs.want(c);
  subs.take_batch();
  subs.on_subscribed("a");
  subs.on_subscribed("b");
  subs.unwant("c");
  subs.reset();
  CHECK_FALSE(subs.active("a"));
  CHECK(sorted(subs.take_batch().subscribe) == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(subs.wanted("c"));
  CHECK_FALSE(subs.on_subscribed("c"));  // a late confirmation of a forgotten channel
}

TEST_CASE("bridge backlog: a taker-over continues after the last recorded payload") {
  BridgeBacklog backlog(1000, 30000);
  std::vector<std::string> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back("{\"n\":" + std::to_string(i) + "}");
    backlog.add(all.back(), 1000 + i);
  }
  // The dead ingester recorded payloads 0..6 (newest first).
  std::vector<std::string> recorded = hashes_newest_first({all.begin(), all.begin() + 7});
  CHECK(backlog.after(recorded) == std::vector<std::string>{all[7], all[8], all[9]});
  // Everything ingested: nothing to do.
  CHECK(backlog.after(hashes_newest_first(all)).empty());
  // Nothing recorded yet: everything held.
  CHECK(backlog.after({}).size() == 10);
  // The last recorded payload came before this node subscribed: everything held is newer.
  CHECK(backlog.after({BridgeBacklog::hash("{\"n\":-1}")}).size() == 10);
}

TEST_CASE("bridge backlog: a repeated payload is placed by the recorded run before it") {
  BridgeBacklog backlog(1000, 30000);
  std::vector<std::string> seq{"a", "x", "b", "x", "c"};
  for (const auto& p : seq) backlog.add(p, 0);
  // Recorded up to the first "x" (a, x): continue with b, x, c, not after the second x.
  CHECK(backlog.after(hashes_newest_first({"a", "x"})) == std::vector<std::string>{"b", "x", "c"});
  CHECK(backlog.after(hashes_newest_first({"b", "x"})) == std::vector<std::string>{"c"});
}

TEST_CASE("bridge backlog: bounded by count and by age") {
  BridgeBacklog backlog(3, 1000);
  for (int i = 0; i < 5; ++i) backlog.add(std::to_string(i), 0);
  CHECK(backlog.size() == 3);
  backlog.add("late", 2000);  // the others are older than 1 s by now
  CHECK(backlog.size() == 1);
  CHECK(BridgeBacklog::hash("late").size() == 16);
  CHECK(BridgeBacklog::hash("a") != BridgeBacklog::hash("b"));
}

TEST_CASE("record: a bridged publisher's timestamp survives the trip through Redis") {
  auto m = redis_record::decode(
      "updates",
      "ep1 7 1763880000123 T26:\"2026-12-05T08:00:00.000Z\" 16:geometry.updated{\"id\":7}");
  REQUIRE(m);
  CHECK(m->position.epoch == "ep1");
  CHECK(m->position.seq == 7);
  CHECK(m->ts_ms == 1763880000123);
  CHECK(m->timestamp == "\"2026-12-05T08:00:00.000Z\"");
  CHECK(m->type == "geometry.updated");
  CHECK(m->data == "{\"id\":7}");
  auto plain = redis_record::decode("c", "ep1 8 1763880000124 7:message{}");
  REQUIRE(plain);
  CHECK(plain->timestamp.empty());
  CHECK(plain->data == "{}");
  CHECK_FALSE(redis_record::decode("c", "ep1 8 1763880000124 T99:\"x\" 7:message{}"));
  CHECK_FALSE(redis_record::decode("c", "ep1 8 1763880000124 T3:\"x\"7:message{}"));
}

TEST_CASE("record: a keyed message's key and delete survive the trip through Redis") {
  auto kept = redis_record::decode("geo", "ep1 9 1763880000125 K6:zone 1 12:zone.updated{}");
  REQUIRE(kept);
  CHECK(kept->key == "zone 1");  // a key may hold spaces: its length says where it ends
  CHECK_FALSE(kept->deleted);
  CHECK(kept->type == "zone.updated");
  CHECK(kept->data == "{}");
  auto both = redis_record::decode("geo", "ep1 10 1763880000126 T3:\"x\" X2:z9 7:messagenull");
  REQUIRE(both);
  CHECK(both->timestamp == "\"x\"");
  CHECK(both->key == "z9");
  CHECK(both->deleted);
  CHECK(both->data == "null");
  CHECK_FALSE(redis_record::decode("geo", "ep1 9 1763880000125 K0: 7:message{}"));
  CHECK_FALSE(redis_record::decode("geo", "ep1 9 1763880000125 K9:zone 7:message{}"));
  CHECK_FALSE(redis_record::decode("geo", "ep1 9 1763880000125 K2:zone 7:message{}"));
}

TEST_CASE("a bridged payload's timestamp is read raw and written beside ts") {
  std::string payload =
      R"({"type":"geometry.updated","data":{"id":7},"timestamp":"2026-12-05T08:00:00Z"})";
  auto scan = json::scan_requests(payload, false);
  REQUIRE(scan.ok);
  CHECK(scan.items.front().error.empty());
  CHECK(scan.items.front().timestamp.in(payload) == "\"2026-12-05T08:00:00Z\"");
  std::string numeric = R"({"type":"t","data":1,"timestamp":1764921600})";
  auto scan2 = json::scan_requests(numeric, false);
  REQUIRE(scan2.ok);
  CHECK(scan2.items.front().error.empty());
  CHECK(scan2.items.front().timestamp.in(numeric) == "1764921600");

  Message m;
  m.channel = "updates";
  m.type = "geometry.updated";
  m.data = "{\"id\":7}";
  m.position = Position{"ep1", 7};
  m.ts_ms = 1763880000123;
  m.timestamp = "\"2026-12-05T08:00:00Z\"";
  CHECK(
      codec::message(m) ==
      R"({"op":"message","channel":"updates","epoch":"ep1","seq":7,"type":"geometry.updated","data":{"id":7},"ts":1763880000123,"timestamp":"2026-12-05T08:00:00Z"})");
}
