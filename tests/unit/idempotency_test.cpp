// Idempotent publishes: the in-memory record (window, bound), the memory and shared brokers'
// answers to a repeated key, the "idempotency_key" request field, the unknown_outcome error code,
// and the C++ API (Hub::publish with PublishOptions) on a running hub.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/memory/idempotency_record.hpp"
#include "broker/memory/memory_broker.hpp"
#include "broker/shared/shared_broker.hpp"
#include "broker_calls.hpp"
#include "core/codec.hpp"
#include "core/json_scan.hpp"
#include "rthub/hub.hpp"

using namespace rthub;
using test::publish;
using test::publish_keyed;

namespace {

struct Recorder final : BrokerListener {
  void on_broker_message(const EnvelopePtr& message) override { received.push_back(message); }
  bool has_subscribers(const std::string&) const override { return true; }
  std::vector<EnvelopePtr> received;
};

}  // namespace

TEST_CASE("IdempotencyRecord answers a key per channel until its window ends", "[idempotency]") {
  IdempotencyRecord record(1000, 1 << 20);
  const Position first{"e1", 7};
  CHECK(record.find("a", "k", 0) == nullptr);
  record.remember("a", "k", first, 0);
  REQUIRE(record.find("a", "k", 999) != nullptr);
  CHECK(*record.find("a", "k", 999) == first);
  CHECK(record.find("b", "k", 999) == nullptr);  // another channel: another publish
  CHECK(record.find("a", "k2", 999) == nullptr);
  record.remember("a", "k", Position{"e1", 8}, 500);  // a key already recorded keeps its first
  CHECK(*record.find("a", "k", 999) == first);
  CHECK(record.find("a", "k", 1000) == nullptr);  // the window is over
  CHECK(record.size() == 0);
  CHECK(record.bytes() == 0);
}

TEST_CASE("IdempotencyRecord keeps its bound by forgetting the oldest keys, and counts them",
          "[idempotency]") {
  IdempotencyRecord record(60000, 2000);
  for (int i = 0; i < 100; ++i)
    record.remember("ch", "key-" + std::to_string(i), Position{"e", uint64_t(i)}, i);
  CHECK(record.bytes() <= 2000);
  CHECK(record.size() > 0);
  CHECK(record.evicted() == 100 - record.size());
  CHECK(record.find("ch", "key-0", 100) == nullptr);  // forgotten early
  REQUIRE(record.find("ch", "key-99", 100) != nullptr);
  CHECK(record.find("ch", "key-99", 100)->seq == 99);
}

TEST_CASE("IdempotencyRecord with a window of 0 records nothing", "[idempotency]") {
  IdempotencyRecord record(0, 1 << 20);
  record.remember("a", "k", Position{"e", 1}, 0);
  CHECK(record.find("a", "k", 0) == nullptr);
  CHECK(record.size() == 0);
}

TEST_CASE("MemoryBroker answers a repeated key with the first position and delivers it once",
          "[idempotency]") {
  MemoryBroker broker(100, 300, 300);
  Recorder listener;
  broker.attach(listener);
  Position first = publish_keyed(broker, "orders", "o-1", "{\"n\":1}");
  CHECK(publish_keyed(broker, "orders", "o-1", "{\"n\":1,\"again\":true}") == first);
  Position other = publish_keyed(broker, "orders", "o-2");
  CHECK(other.seq == first.seq + 1);
  CHECK(publish(broker, "orders").seq == other.seq + 1);     // no key: always new
  CHECK(publish_keyed(broker, "invoices", "o-1").seq == 1);  // same key, other channel
  REQUIRE(listener.received.size() == 4);
  CHECK(listener.received[0]->message.data == "{\"n\":1}");
  CHECK(listener.received[0]->message.idempotency_key.empty());  // not kept with the history
}

TEST_CASE("MemoryBroker with a window of 0 publishes every repeat", "[idempotency]") {
  MemoryBroker broker(100, 300, 0);
  CHECK(publish_keyed(broker, "orders", "o-1").seq == 1);
  CHECK(publish_keyed(broker, "orders", "o-1").seq == 2);
}

TEST_CASE("SharedBroker: a repeat arriving on another shard answers the first position",
          "[idempotency]") {
  int published = 0;
  SharedBroker shared(
      100, 300, 2, [&published] { ++published; }, 300);
  auto post = [](std::function<void()>) { return true; };
  std::unique_ptr<Broker> a = shared.shard(0, post), b = shared.shard(1, post);
  Recorder ra, rb;
  a->attach(ra);
  b->attach(rb);
  Position first = publish_keyed(*a, "map", "m-1");
  CHECK(publish_keyed(*b, "map", "m-1") == first);
  CHECK(publish_keyed(*b, "map", "m-2").seq == first.seq + 1);
  CHECK(published == 2);  // the repeat was not published
}

TEST_CASE("scan_requests reads idempotency_key, refusing a wrong type or length", "[idempotency]") {
  std::string max(json::kMaxIdempotencyKeyBytes, 'k');
  json::Scan ok =
      json::scan_requests(R"({"channel":"c","data":1,"idempotency_key":")" + max + "\"}", false);
  REQUIRE(ok.ok);
  CHECK(ok.items[0].error.empty());
  CHECK(ok.items[0].idempotency_key == max);

  json::Scan longer =
      json::scan_requests(R"({"channel":"c","data":1,"idempotency_key":"k)" + max + "\"}", false);
  REQUIRE(longer.ok);
  CHECK(longer.items[0].error == "idempotency_key must be 1-128 bytes (got 129)");
  CHECK(longer.items[0].idempotency_key.empty());

  for (const char* bad : {R"({"idempotency_key":1})", R"({"idempotency_key":{}})",
                          R"({"idempotency_key":[]})", R"({"idempotency_key":null})"}) {
    json::Scan s = json::scan_requests(bad, false);
    REQUIRE(s.ok);
    CHECK(s.items[0].error == "idempotency_key must be a string");
  }
  CHECK(json::scan_requests(R"({"idempotency_key":""})", false).items[0].error ==
        "idempotency_key must be 1-128 bytes (got 0)");

  json::Scan array =
      json::scan_requests(R"([{"idempotency_key":"a"},{"data":{"idempotency_key":7}}])", true);
  REQUIRE(array.ok);
  CHECK(array.items[0].idempotency_key == "a");
  CHECK(array.items[1].error.empty());  // a key nested in data is the publisher's own
  CHECK(array.items[1].idempotency_key.empty());
}

TEST_CASE("unknown_outcome is a protocol error code", "[idempotency]") {
  CHECK(std::string(codec::error_code_name(codec::ErrorCode::kUnknownOutcome)) ==
        "unknown_outcome");
  CHECK(codec::error(codec::ErrorCode::kUnknownOutcome, "x", "4") ==
        R"({"op":"error","code":"unknown_outcome","message":"x","ref":4})");
}

TEST_CASE("Hub::publish with PublishOptions: a repeated key answers the first position",
          "[idempotency]") {
  HubOptions options;
  options.port = 0;
  options.idempotency_window_seconds = 300;
  Hub hub(options);
  hub.start();
  PublishOptions key;
  key.idempotency_key = "order-17";
  Position first = hub.publish("orders", "order.created", "{\"id\":17}", key);
  CHECK(hub.publish("orders", "order.created", "{\"id\":17}", key) == first);
  CHECK(hub.publish("orders", "order.created", "{\"id\":18}").seq == first.seq + 1);
  CHECK(hub.publish("other", "order.created", "{\"id\":17}", key).seq == 1);
  CHECK(hub.stats().messages_published == 3);

  PublishOptions too_long;
  too_long.idempotency_key.assign(json::kMaxIdempotencyKeyBytes + 1, 'k');
  try {
    hub.publish("orders", "order.created", "1", too_long);
    FAIL("a key over 128 bytes is refused");
  } catch (const Error& e) {
    CHECK(e.code() == Errc::kInvalid);
  }
  hub.stop();
}
