// MemoryBroker keyed state: the latest message per key, deletes, the max_keys bound, snapshots
// taken with the position, and channels with keys never freed.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "broker_calls.hpp"
#include "core/json_scan.hpp"

using namespace rthub;

namespace {

class NoSubscribers final : public BrokerListener {
 public:
  void on_broker_message(const EnvelopePtr&) override {}
  bool has_subscribers(const std::string&) const override { return false; }
};

PublishOutcome publish_key(Broker& broker, const std::string& channel, const std::string& key,
                           const std::string& data, bool deleted = false) {
  Message m;
  m.channel = channel;
  m.data = data;
  m.ts_ms = test::kStartMs;
  m.key = key;
  m.deleted = deleted;
  PublishOutcome answer;
  bool done = false;
  broker.publish(std::move(m), [&](const PublishOutcome& outcome) {
    answer = outcome;
    done = true;
  });
  REQUIRE(done);
  return answer;
}

HistoryOutcome snapshot(Broker& broker, const std::string& channel,
                        std::optional<Position> since = {}) {
  HistoryOutcome answer;
  bool done = false;
  broker.history_with_snapshot(channel, since, [&](HistoryOutcome& outcome) {
    answer = std::move(outcome);
    done = true;
  });
  REQUIRE(done);
  return answer;
}

std::vector<std::string> keys_and_data(const HistoryOutcome& h) {
  std::vector<std::string> out;
  for (const auto& e : h.snapshot) out.push_back(e->message.key + "=" + e->message.data);
  return out;
}

}  // namespace

TEST_CASE("MemoryBroker keeps the latest message of each key, in seq order", "[keyed]") {
  MemoryBroker broker(100, 300);
  NoSubscribers listener;
  broker.attach(listener);
  publish_key(broker, "map", "a", "1");
  publish_key(broker, "map", "b", "2");
  test::publish(broker, "map", "\"unkeyed\"");
  publish_key(broker, "map", "a", "3");
  PublishOutcome last = publish_key(broker, "map", "c", "4");
  HistoryOutcome h = snapshot(broker, "map");
  CHECK(h.has_snapshot);
  CHECK(h.latest == last.position);
  CHECK(keys_and_data(h) == std::vector<std::string>{"b=2", "a=3", "c=4"});
  CHECK(h.messages.empty());

  SECTION("a delete removes the key, and deleting a missing key changes nothing") {
    CHECK(publish_key(broker, "map", "b", "null", true).error == BrokerError::kOk);
    CHECK(publish_key(broker, "map", "zz", "null", true).error == BrokerError::kOk);
    CHECK(keys_and_data(snapshot(broker, "map")) == std::vector<std::string>{"a=3", "c=4"});
  }
  SECTION("a resume that recovers gets the messages, not a snapshot") {
    HistoryOutcome resumed =
        snapshot(broker, "map", Position{last.position.epoch, last.position.seq - 1});
    CHECK(resumed.recovered);
    CHECK_FALSE(resumed.has_snapshot);
    REQUIRE(resumed.messages.size() == 1);
    CHECK(resumed.messages[0]->message.key == "c");
  }
  SECTION("a resume that cannot recover gets a snapshot") {
    HistoryOutcome lost = snapshot(broker, "map", Position{"other", 1});
    CHECK_FALSE(lost.recovered);
    CHECK(lost.has_snapshot);
    CHECK(lost.snapshot.size() == 3);
  }
}

TEST_CASE("MemoryBroker refuses a new key past max_keys and never evicts one", "[keyed]") {
  MemoryBroker broker(100, 300, 300, 2);
  NoSubscribers listener;
  broker.attach(listener);
  CHECK(publish_key(broker, "m", "a", "1").error == BrokerError::kOk);
  CHECK(publish_key(broker, "m", "b", "1").error == BrokerError::kOk);
  PublishOutcome refused = publish_key(broker, "m", "c", "1");
  CHECK(refused.error == BrokerError::kTooManyKeys);
  CHECK_THAT(refused.detail, Catch::Contains("2 keys"));
  CHECK(publish_key(broker, "m", "a", "2").error == BrokerError::kOk);  // an update fits
  CHECK(test::publish(broker, "m").seq == 4);  // the refusal took no seq; unkeyed goes on
  CHECK(publish_key(broker, "m", "b", "null", true).error == BrokerError::kOk);
  CHECK(publish_key(broker, "m", "c", "1").error == BrokerError::kOk);
  CHECK(keys_and_data(snapshot(broker, "m")) == std::vector<std::string>{"a=2", "c=1"});
}

TEST_CASE("MemoryBroker keeps a channel with keys when its history expires", "[keyed]") {
  MemoryBroker broker(0, 1);  // no history at all
  NoSubscribers listener;
  broker.attach(listener);
  PublishOutcome kept = publish_key(broker, "state", "k", "\"v\"");
  broker.release("state");
  broker.tick(test::kStartMs + 3'600'000);
  CHECK(broker.channel_count() == 1);
  HistoryOutcome h = snapshot(broker, "state");
  CHECK(h.latest == kept.position);
  CHECK(keys_and_data(h) == std::vector<std::string>{"k=\"v\""});
  publish_key(broker, "state", "k", "null", true);
  broker.release("state");
  CHECK(broker.channel_count() == 0);  // no keys, no history, nobody listening: freed
}

TEST_CASE("MemoryBroker::seed_keys restores a channel's keys at its position", "[keyed]") {
  auto item = [](const std::string& key, uint64_t seq, const std::string& data) {
    Message m;
    m.channel = "map";
    m.key = key;
    m.data = data;
    m.position = Position{"old", seq};
    return m;
  };
  MemoryBroker broker(100, 300, 300, 2);
  NoSubscribers listener;
  broker.attach(listener);
  broker.seed_keys("map", Position{"kept", 7}, {item("a", 3, "1"), item("b", 6, "2")});
  HistoryOutcome h = snapshot(broker, "map");
  CHECK(h.latest == Position{"kept", 7});
  CHECK(keys_and_data(h) == std::vector<std::string>{"a=1", "b=2"});
  CHECK(h.snapshot[0]->message.position == Position{"old", 3});  // each item as published
  CHECK(publish_key(broker, "map", "c", "3").error == BrokerError::kTooManyKeys);
  PublishOutcome next = publish_key(broker, "map", "a", "4");
  CHECK(next.position == Position{"kept", 8});
  CHECK(keys_and_data(snapshot(broker, "map")) == std::vector<std::string>{"b=2", "a=4"});

  // No epoch (the last run did not stop cleanly): a new one, the seq going on.
  broker.seed_keys("fresh", Position{"", 5}, {item("k", 5, "9")});
  HistoryOutcome f = snapshot(broker, "fresh");
  CHECK(f.latest.seq == 5);
  CHECK_FALSE(f.latest.epoch.empty());
  CHECK(f.latest.epoch != "old");
  CHECK(keys_and_data(f) == std::vector<std::string>{"k=9"});
}

TEST_CASE("json::scan_requests reads key, delete, snapshot and presence", "[keyed]") {
  auto scan = json::scan_requests(
      R"({"op":"publish","channel":"c","key":"z1","delete":true,"data":null})", false);
  REQUIRE(scan.ok);
  CHECK(scan.items[0].key == "z1");
  CHECK(scan.items[0].delete_key);
  auto sub = json::scan_requests(
      R"({"op":"subscribe","channel":"c","snapshot":true,"presence":false})", false);
  REQUIRE(sub.ok);
  CHECK(sub.items[0].snapshot);
  CHECK_FALSE(sub.items[0].presence);
  CHECK(json::scan_requests(R"({"key":""})", false).items[0].error ==
        "key must be 1-256 bytes (got 0)");
  CHECK(json::scan_requests(R"({"key":7})", false).items[0].error == "key must be a string");
  CHECK(json::scan_requests(R"({"snapshot":"yes"})", false).items[0].error ==
        "snapshot must be true or false");
  CHECK(json::scan_requests(R"({"delete":null})", false).items[0].error ==
        "delete must be true or false");
  CHECK(json::scan_requests(R"({"data":true,"other":false})", false).items[0].error.empty());
}
