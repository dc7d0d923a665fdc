// SharedBroker: one numbering and history for several shards; a message reaches, as its own copy,
// only the shards that asked for the channel; completions run on the caller; counted once.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "broker/shared/shared_broker.hpp"
#include "broker_calls.hpp"

using namespace rthub;
using test::history;
using test::publish;

namespace {

// A shard as the broker sees it: a task queue run by hand (standing in for the service thread)
// and the core's listener, recording what it is handed.
struct FakeShard final : BrokerListener {
  void on_broker_message(const EnvelopePtr& message) override { received.push_back(message); }
  bool has_subscribers(const std::string&) const override { return false; }  // never asked
  void run_tasks() {
    auto batch = std::move(tasks);
    tasks.clear();
    for (auto& task : batch) task();
  }
  std::vector<std::function<void()>> tasks;
  std::vector<EnvelopePtr> received;
  bool serving = true;
};

struct TwoShards {
  int published = 0;
  SharedBroker shared{100, 300, 2, [this] { ++published; }};
  FakeShard a, b;
  std::unique_ptr<Broker> broker_a = attach(0, a);
  std::unique_ptr<Broker> broker_b = attach(1, b);

  std::unique_ptr<Broker> attach(size_t index, FakeShard& shard) {
    auto broker = shared.shard(index, [&shard](std::function<void()> task) {
      if (!shard.serving) return false;
      shard.tasks.push_back(std::move(task));
      return true;
    });
    broker->attach(shard);
    return broker;
  }
};

}  // namespace

TEST_CASE("shards share one numbering per channel, whichever shard publishes") {
  TwoShards hub;
  CHECK(publish(*hub.broker_a, "map", "1").seq == 1);
  CHECK(publish(*hub.broker_b, "map", "2").seq == 2);
  Position third = publish(*hub.broker_a, "map", "3");
  CHECK(third.seq == 3);
  CHECK(hub.published == 3);
  HistoryOutcome h = history(*hub.broker_b, "map", Position{third.epoch, 1});
  CHECK(h.recovered);
  CHECK(h.latest == third);
  REQUIRE(h.messages.size() == 2);
  CHECK(h.messages[0]->message.data == "2");
  CHECK(h.messages[1]->message.data == "3");
}

TEST_CASE(
    "a message goes to the shards that asked for its channel, each as its own copy, in order") {
  TwoShards hub;
  history(*hub.broker_a, "map", std::nullopt);  // shard a subscribes
  publish(*hub.broker_b, "map", "1");
  publish(*hub.broker_b, "other", "x");
  history(*hub.broker_b, "map", std::nullopt);  // now shard b too
  publish(*hub.broker_a, "map", "2");
  CHECK(hub.a.received.empty());  // handed over through the shard's queue, not called directly
  hub.a.run_tasks();
  hub.b.run_tasks();
  REQUIRE(hub.a.received.size() == 2);
  CHECK(hub.a.received[0]->message.position.seq == 1);
  CHECK(hub.a.received[1]->message.position.seq == 2);
  REQUIRE(hub.b.received.size() == 1);
  CHECK(hub.b.received[0]->message.position.seq == 2);
  CHECK(hub.a.received[1].get() != hub.b.received[0].get());  // frames are encoded per thread
  CHECK(hub.a.received[1]->message.data == hub.b.received[0]->message.data);
}

TEST_CASE("history hands each shard copies, never the retained envelopes") {
  TwoShards hub;
  Position p = publish(*hub.broker_a, "map", "1");
  HistoryOutcome first = history(*hub.broker_a, "map", Position{p.epoch, 0});
  HistoryOutcome second = history(*hub.broker_b, "map", Position{p.epoch, 0});
  REQUIRE(first.messages.size() == 1);
  REQUIRE(second.messages.size() == 1);
  CHECK(first.messages[0].get() != second.messages[0].get());
}

TEST_CASE("a released channel stops reaching the shard; it is freed only when no shard wants it") {
  TwoShards hub;
  history(*hub.broker_a, "map", std::nullopt);
  history(*hub.broker_b, "map", std::nullopt);
  Position p1 = publish(*hub.broker_a, "map", "1");
  hub.broker_a->release("map");
  publish(*hub.broker_a, "map", "2");
  hub.a.run_tasks();
  hub.b.run_tasks();
  CHECK(hub.a.received.size() == 1);
  CHECK(hub.b.received.size() == 2);
  hub.broker_b->release("map");
  // Freed or not, the numbering goes on (tombstones keep it).
  Position p3 = publish(*hub.broker_a, "map", "3");
  CHECK(p3.epoch == p1.epoch);
  CHECK(p3.seq == 3);
}

TEST_CASE("a shard that stopped is skipped, and its broker leaves cleanly") {
  TwoShards hub;
  history(*hub.broker_b, "map", std::nullopt);
  hub.b.serving = false;
  publish(*hub.broker_a, "map", "1");
  CHECK(hub.b.tasks.empty());
  hub.broker_b.reset();  // the shard ends
  CHECK(publish(*hub.broker_a, "map", "2").seq == 2);
  CHECK(hub.a.tasks.empty());  // shard a never asked for the channel
}
