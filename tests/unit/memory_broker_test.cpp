// MemoryBroker: positions, epochs, bounded history, resume answers, expiry and freeing channels.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "broker_calls.hpp"

using namespace rthub;

namespace {

// Records what the broker hands to the hub, and answers has_subscribers from a set the test sets.
class RecordingListener final : public BrokerListener {
 public:
  void on_broker_message(const EnvelopePtr& message) override { received.push_back(message); }
  bool has_subscribers(const std::string& channel) const override {
    return subscribed.count(channel) != 0;
  }

  std::vector<EnvelopePtr> received;
  std::set<std::string> subscribed;
};

using test::history;
using test::kStartMs;
using test::publish;

std::vector<uint64_t> seqs(const std::vector<EnvelopePtr>& messages) {
  std::vector<uint64_t> out;
  for (const auto& m : messages) out.push_back(m->message.position.seq);
  return out;
}

}  // namespace

TEST_CASE("MemoryBroker numbers each channel 1, 2, 3 ... under one epoch", "[memory_broker]") {
  MemoryBroker broker(100, 300);
  RecordingListener listener;
  broker.attach(listener);
  Position a1 = publish(broker, "a");
  Position b1 = publish(broker, "b");
  Position a2 = publish(broker, "a");
  Position a3 = publish(broker, "a");
  Position b2 = publish(broker, "b");
  CHECK(a1.seq == 1);
  CHECK(a2.seq == 2);
  CHECK(a3.seq == 3);
  CHECK(b1.seq == 1);
  CHECK(b2.seq == 2);
  CHECK_FALSE(a1.epoch.empty());
  CHECK(a1.epoch == a2.epoch);
  CHECK(a1.epoch == a3.epoch);
  CHECK(b1.epoch == b2.epoch);
  CHECK(a1.epoch != b1.epoch);
  CHECK(broker.channel_count() == 2);
}

TEST_CASE("MemoryBroker hands every message to the listener in order, with its position",
          "[memory_broker]") {
  MemoryBroker broker(100, 300);
  RecordingListener listener;
  broker.attach(listener);
  Position p1 = publish(broker, "a", R"({"n":1})");
  Position p2 = publish(broker, "a", R"({"n":2})");
  REQUIRE(listener.received.size() == 2);
  CHECK(listener.received[0]->message.position == p1);
  CHECK(listener.received[0]->message.data == R"({"n":1})");
  CHECK(listener.received[0]->message.channel == "a");
  CHECK(listener.received[0]->message.ts_ms == kStartMs);
  CHECK(listener.received[1]->message.position == p2);
  CHECK(listener.received[0]->published_us > 0);
}

TEST_CASE("MemoryBroker draws epochs that differ between broker instances", "[memory_broker]") {
  std::set<std::string> epochs;
  for (int i = 0; i < 8; ++i) {
    MemoryBroker broker(10, 300);
    Position p = publish(broker, "same-channel");
    CHECK(p.seq == 1);
    epochs.insert(p.epoch);
  }
  CHECK(epochs.size() == 8);
}

TEST_CASE("MemoryBroker bounds history by count", "[memory_broker]") {
  MemoryBroker broker(3, 300);
  RecordingListener listener;
  broker.attach(listener);
  for (int i = 0; i < 5; ++i) publish(broker, "a", std::to_string(i));
  HistoryOutcome all =
      history(broker, "a", Position{listener.received[0]->message.position.epoch, 2});
  CHECK(all.recovered);
  CHECK(seqs(all.messages) == std::vector<uint64_t>{3, 4, 5});
  CHECK(all.latest.seq == 5);
  CHECK(broker.history_bytes() > 0);

  MemoryBroker small(3, 300);
  publish(small, "a");
  size_t one = small.history_bytes();
  publish(small, "a");
  publish(small, "a");
  CHECK(small.history_bytes() == 3 * one);
  publish(small, "a");
  CHECK(small.history_bytes() == 3 * one);  // the oldest went out as the newest came in
}

TEST_CASE("MemoryBroker::history answers recovered per resume position", "[memory_broker]") {
  MemoryBroker broker(3, 300);
  RecordingListener listener;
  broker.attach(listener);
  Position latest;
  for (int i = 0; i < 5; ++i) latest = publish(broker, "a");  // retained: 3, 4, 5
  const std::string epoch = latest.epoch;

  SECTION("no position asked") {
    HistoryOutcome h = history(broker, "a", std::nullopt);
    CHECK(h.latest == latest);
    CHECK_FALSE(h.recovered);
    CHECK(h.messages.empty());
  }
  SECTION("exactly the latest: nothing missed") {
    HistoryOutcome h = history(broker, "a", Position{epoch, 5});
    CHECK(h.recovered);
    CHECK(h.messages.empty());
    CHECK(h.latest == latest);
  }
  SECTION("inside the retained window") {
    HistoryOutcome h = history(broker, "a", Position{epoch, 3});
    CHECK(h.recovered);
    CHECK(seqs(h.messages) == std::vector<uint64_t>{4, 5});
  }
  SECTION("just before the oldest retained message") {
    HistoryOutcome h = history(broker, "a", Position{epoch, 2});
    CHECK(h.recovered);
    CHECK(seqs(h.messages) == std::vector<uint64_t>{3, 4, 5});
  }
  SECTION("older than the retained window") {
    HistoryOutcome h = history(broker, "a", Position{epoch, 1});
    CHECK_FALSE(h.recovered);
    CHECK(h.latest == latest);
    HistoryOutcome zero = history(broker, "a", Position{epoch, 0});
    CHECK_FALSE(zero.recovered);
  }
  SECTION("unknown epoch") {
    HistoryOutcome h = history(broker, "a", Position{"other", 4});
    CHECK_FALSE(h.recovered);
    CHECK(h.messages.empty());
    CHECK(h.latest == latest);
    CHECK_FALSE(history(broker, "a", Position{"", 4}).recovered);
  }
  SECTION("seq beyond the latest") {
    HistoryOutcome h = history(broker, "a", Position{epoch, 6});
    CHECK_FALSE(h.recovered);
    CHECK(h.messages.empty());
    CHECK_FALSE(history(broker, "a", Position{epoch, UINT64_MAX}).recovered);
  }
}

TEST_CASE("MemoryBroker::history of a new channel starts it at seq 0", "[memory_broker]") {
  MemoryBroker broker(10, 300);
  HistoryOutcome h = history(broker, "fresh", std::nullopt);
  CHECK(h.latest.seq == 0);
  CHECK_FALSE(h.latest.epoch.empty());
  CHECK(history(broker, "fresh", Position{h.latest.epoch, 0}).recovered);
  Position first = publish(broker, "fresh");
  CHECK(first == Position{h.latest.epoch, 1});
}

TEST_CASE("MemoryBroker::tick expires history older than the TTL", "[memory_broker]") {
  MemoryBroker broker(100, 10);
  RecordingListener listener;
  listener.subscribed.insert("a");  // keeps the channel alive while its history expires
  broker.attach(listener);
  publish(broker, "a", "1", kStartMs);
  publish(broker, "a", "2", kStartMs + 5000);
  Position latest = publish(broker, "a", "3", kStartMs + 9000);

  broker.tick(kStartMs + 10000);  // nothing is older than 10 s yet
  CHECK(seqs(history(broker, "a", Position{latest.epoch, 0}).messages) ==
        std::vector<uint64_t>{1, 2, 3});

  broker.tick(kStartMs + 10001);  // the first is
  HistoryOutcome h = history(broker, "a", Position{latest.epoch, 1});
  CHECK(h.recovered);
  CHECK(seqs(h.messages) == std::vector<uint64_t>{2, 3});
  CHECK_FALSE(history(broker, "a", Position{latest.epoch, 0}).recovered);

  broker.tick(kStartMs + 60000);  // all are
  CHECK(broker.history_bytes() == 0);
  CHECK(broker.channel_count() == 1);
  HistoryOutcome empty = history(broker, "a", Position{latest.epoch, 3});
  CHECK(empty.recovered);  // the subscriber had everything: nothing lost
  CHECK(empty.messages.empty());
  CHECK(empty.latest == latest);
  CHECK_FALSE(history(broker, "a", Position{latest.epoch, 2}).recovered);
  CHECK(publish(broker, "a").seq == 4);  // the numbering goes on
}

TEST_CASE("MemoryBroker::tick frees a channel with no history and no subscribers",
          "[memory_broker]") {
  MemoryBroker broker(100, 10);
  RecordingListener listener;
  broker.attach(listener);
  Position old = publish(broker, "a", "1", kStartMs);
  publish(broker, "b", "1", kStartMs);
  listener.subscribed.insert("b");
  CHECK(broker.channel_count() == 2);
  broker.tick(kStartMs + 20000);
  CHECK(broker.channel_count() == 1);  // "b" still has a subscriber
  CHECK(broker.history_bytes() == 0);
  // The freed channel left its position behind: when it comes back, its numbering goes on.
  CHECK(publish(broker, "a") == Position{old.epoch, 2});
  CHECK(broker.channel_count() == 2);
}

TEST_CASE("MemoryBroker::release frees a channel without history", "[memory_broker]") {
  RecordingListener listener;
  SECTION("nothing was ever published") {
    MemoryBroker broker(100, 300);
    broker.attach(listener);
    history(broker, "a", std::nullopt);  // a subscribe creates the channel
    CHECK(broker.channel_count() == 1);
    Position latest = history(broker, "a", std::nullopt).latest;
    broker.release("a");
    CHECK(broker.channel_count() == 0);
    broker.release("never-seen");
    CHECK(broker.channel_count() == 0);
    CHECK(publish(broker, "a") == Position{latest.epoch, 1});
  }
  SECTION("retained history keeps the channel") {
    MemoryBroker broker(100, 300);
    broker.attach(listener);
    Position p = publish(broker, "a");
    broker.release("a");
    CHECK(broker.channel_count() == 1);
    CHECK(publish(broker, "a") == Position{p.epoch, 2});
  }
}

TEST_CASE("MemoryBroker without history frees an unwatched channel on publish", "[memory_broker]") {
  MemoryBroker broker(0, 300);
  RecordingListener listener;
  broker.attach(listener);
  Position first = publish(broker, "a");
  CHECK(first.seq == 1);
  CHECK(listener.received.size() == 1);
  CHECK(broker.channel_count() == 0);
  CHECK(broker.history_bytes() == 0);
  // Freed, but its numbering goes on: a client that saw seq 1 and comes back misses nothing.
  CHECK(history(broker, "a", first).recovered);
  broker.release("a");
  Position second = publish(broker, "a");
  CHECK(second == Position{first.epoch, 2});
  CHECK(broker.channel_count() == 0);

  listener.subscribed.insert("w");
  Position w1 = publish(broker, "w");
  Position w2 = publish(broker, "w");
  CHECK(w2 == Position{w1.epoch, 2});
  CHECK(broker.channel_count() == 1);
  CHECK(history(broker, "w", Position{w1.epoch, 2}).recovered);
  CHECK_FALSE(history(broker, "w", Position{w1.epoch, 1}).recovered);  // nothing retained
}
