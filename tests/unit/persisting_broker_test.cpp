// PersistingBroker: what it hands the store, and how it joins store rows and the live window
// into a resume, with a store in memory (no PostgreSQL) and a hand-run service queue.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "broker_calls.hpp"
#include "history/persisting_broker.hpp"

using namespace rthub;

namespace {

class NullListener final : public BrokerListener {
 public:
  void on_broker_message(const EnvelopePtr&) override {}
  bool has_subscribers(const std::string&) const override { return true; }
};

// A store in memory: rows by (channel, seq), a switch for an outage, and the ranges asked for.
class FakeStore final : public HistoryStore {
 public:
  bool persists(const std::string& channel) const override {
    return channel.rfind("keep.", 0) == 0;
  }
  void append(const Message& message) override {
    rows[message.channel][message.position.seq] = message;
  }
  void read(StoreRange range, std::function<void(StoreRead&)> done) override {
    asked.push_back(range);
    StoreRead result;
    result.ok = up;
    if (up) {
      auto& channel = rows[range.channel];
      for (auto& [seq, m] : channel)
        if (m.position.epoch == range.epoch && seq > range.after && seq < range.before)
          result.messages.push_back(m);
      if (result.messages.size() > range.limit) {
        auto keep = range.newest_first ? result.messages.end() - static_cast<long>(range.limit)
                                       : result.messages.begin();
        result.messages = std::vector<Message>(keep, keep + static_cast<long>(range.limit));
      }
    }
    done(result);
  }
  void render_metrics(std::string& out) const override { out += "fake_store 1\n"; }

  bool up = true;
  std::map<std::string, std::map<uint64_t, Message>> rows;
  std::vector<StoreRange> asked;
};

// The service thread's queue, run by hand: the store's answers wait until run().
struct Queue {
  std::vector<std::function<void()>> tasks;
  PersistingBroker::Post post() {
    return [this](std::function<void()> task) {
      tasks.push_back(std::move(task));
      return true;
    };
  }
  void run() {
    while (!tasks.empty()) {
      auto batch = std::move(tasks);
      tasks.clear();
      for (auto& task : batch) task();
    }
  }
};

struct Fixture {
  FakeStore store;
  Queue queue;
  NullListener listener;
  PersistingBroker broker{std::unique_ptr<Broker>(new MemoryBroker(10, 3600)), store, queue.post()};
  Fixture() { broker.attach(listener); }

  HistoryOutcome resume(const std::string& channel, const Position& since) {
    HistoryOutcome got;
    bool answered = false;
    broker.history(channel, since, [&](HistoryOutcome& h) {
      got = std::move(h);
      answered = true;
    });
    queue.run();
    REQUIRE(answered);
    return got;
  }
  HistoryPage page(const std::string& channel, HistoryQuery query) {
    HistoryPage got;
    bool answered = false;
    broker.history_page(channel, query, [&](HistoryPage& p) {
      got = std::move(p);
      answered = true;
    });
    queue.run();
    REQUIRE(answered);
    return got;
  }
};

std::vector<uint64_t> seqs(const HistoryOutcome& h) {
  std::vector<uint64_t> out;
  for (const auto& e : h.messages) out.push_back(e->message.position.seq);
  return out;
}

std::vector<uint64_t> span(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (uint64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

}  // namespace

TEST_CASE(
    "persisting broker: persisted channels reach the store with their positions, others do not") {
  Fixture f;
  Position p = test::publish(f.broker, "keep.a", "{\"n\":1}");
  test::publish(f.broker, "drop.a");
  REQUIRE(f.store.rows.count("drop.a") == 0);
  REQUIRE(f.store.rows["keep.a"].size() == 1);
  const Message& stored = f.store.rows["keep.a"][1];
  CHECK(stored.position == p);
  CHECK(stored.data == "{\"n\":1}");
  CHECK(stored.ts_ms == test::kStartMs);
}

TEST_CASE(
    "persisting broker: a resume older than the live window is served from the store, exactly") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  HistoryOutcome h = f.resume("keep.a", Position{last.epoch, 5});
  CHECK(h.recovered);
  CHECK(h.latest == last);
  CHECK(seqs(h) == span(6, 50));
  REQUIRE(f.store.asked.size() == 1);
  CHECK(f.store.asked[0].after == 5);
  CHECK(f.store.asked[0].before == 51);
}

TEST_CASE("persisting broker: a resume inside the live window does not ask the store") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  HistoryOutcome h = f.resume("keep.a", Position{last.epoch, 45});
  CHECK(h.recovered);
  CHECK(seqs(h) == span(46, 50));
  CHECK(f.store.asked.empty());
}

TEST_CASE("persisting broker: store rows that stop short are joined to the live window") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  // Rows 41..50 not written yet (as with Redis, another node's): the live window (41..50) has them.
  for (uint64_t s = 41; s <= 50; ++s) f.store.rows["keep.a"].erase(s);
  HistoryOutcome h = f.resume("keep.a", Position{last.epoch, 5});
  CHECK(h.recovered);
  CHECK(seqs(h) == span(6, 50));
}

TEST_CASE("persisting broker: a gap between the store and the live window is recovered:false") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  for (uint64_t s = 31; s <= 50; ++s) f.store.rows["keep.a"].erase(s);  // 31..40 nowhere
  HistoryOutcome h = f.resume("keep.a", Position{last.epoch, 5});
  CHECK_FALSE(h.recovered);
  CHECK(h.messages.empty());
  CHECK(h.latest == last);
}

TEST_CASE("persisting broker: a gap inside the store rows (retention, drops) is recovered:false") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  f.store.rows["keep.a"].erase(6);  // the first one after the cursor: deleted by retention
  CHECK_FALSE(f.resume("keep.a", Position{last.epoch, 5}).recovered);
}

TEST_CASE("persisting broker: during an outage of the store a resume answers as the live broker") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  f.store.up = false;
  HistoryOutcome h = f.resume("keep.a", Position{last.epoch, 5});
  CHECK_FALSE(h.recovered);
  CHECK(h.latest == last);
}

TEST_CASE("persisting broker: another epoch or an unpersisted channel is left to the live broker") {
  Fixture f;
  Position last;
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "keep.a");
  CHECK_FALSE(f.resume("keep.a", Position{"other", 5}).recovered);
  for (int i = 0; i < 50; ++i) last = test::publish(f.broker, "drop.a");
  CHECK_FALSE(f.resume("drop.a", Position{last.epoch, 5}).recovered);
  CHECK(f.store.asked.empty());
}

TEST_CASE("persisting broker: history pages ask the store for the right range") {
  Fixture f;
  Position last;
  for (int i = 0; i < 300; ++i) last = test::publish(f.broker, "keep.a");

  HistoryQuery latest;
  latest.limit = 20;
  HistoryPage p = f.page("keep.a", latest);
  REQUIRE(p.status == HistoryStatus::kOk);
  CHECK(p.epoch == last.epoch);
  REQUIRE(p.messages.size() == 20);
  CHECK(p.messages.front().position.seq == 281);
  CHECK(p.messages.back().position.seq == 300);

  HistoryQuery before;
  before.direction = HistoryDirection::kBefore;
  before.seq = 100;
  before.limit = 30;
  p = f.page("keep.a", before);
  REQUIRE(p.messages.size() == 30);
  CHECK(p.messages.front().position.seq == 70);
  CHECK(p.messages.back().position.seq == 99);

  HistoryQuery after;
  after.direction = HistoryDirection::kAfter;
  after.seq = 290;
  after.limit = 1000;
  p = f.page("keep.a", after);
  REQUIRE(p.messages.size() == 10);
  CHECK(p.messages.front().position.seq == 291);

  CHECK(f.page("drop.a", latest).status == HistoryStatus::kNotPersisted);
  f.store.up = false;
  CHECK(f.page("keep.a", latest).status == HistoryStatus::kUnavailable);
}

TEST_CASE("persisting broker: contiguous_after counts the run that continues a seq") {
  auto rows = [](std::vector<uint64_t> s) {
    std::vector<Message> out(s.size());
    for (size_t i = 0; i < s.size(); ++i) out[i].position.seq = s[i];
    return out;
  };
  CHECK(contiguous_after(5, rows({6, 7, 8})) == 3);
  CHECK(contiguous_after(5, rows({6, 8, 9})) == 1);
  CHECK(contiguous_after(5, rows({7, 8})) == 0);
  CHECK(contiguous_after(5, rows({})) == 0);
}

TEST_CASE("memory broker: a seeded channel continues its numbering") {
  MemoryBroker broker(10, 3600);
  NullListener listener;
  broker.attach(listener);
  broker.seed("a", Position{"abcdefgh", 41});
  Position p = test::publish(broker, "a");
  CHECK(p.epoch == "abcdefgh");
  CHECK(p.seq == 42);
  CHECK(test::publish(broker, "b").seq == 1);
}
