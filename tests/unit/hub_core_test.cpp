// HubCore driven through the SessionHost seam with recording sessions and the in-memory broker:
// requests and their answers, fan-out, resume, SSE streams, slow consumers and heartbeats.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <map>
#include <string>
#include <vector>

#include "broker/memory/memory_broker.hpp"
#include "common/sse_cursor.hpp"
#include "core/hub_core.hpp"
#include "core/utf8.hpp"
#include "transport/sse/sse_kind.hpp"
#include "transport/ws/ws_kind.hpp"

using namespace rthub;

namespace {

// What an SSE stream opened with `cursor` asks for.
StreamResume resume_from(const std::string& cursor) {
  return StreamResume{!cursor.empty(), sse_cursor::parse(cursor)};
}

// A session that records what the hub asks of the transport. take() plays the transport's
// writable callback: it writes (pops) every queued frame, reports it, and returns the JSON objects.
class FakeSession final : public Session {
 public:
  explicit FakeSession(const TransportKind& kind = websocket_kind(), std::string peer = "127.0.0.1")
      : Session(kind, std::move(peer)) {}

  void want_write() override { ++write_requests; }
  void close(CloseCode code, std::string_view reason) override {
    close_codes.push_back(static_cast<int>(code));
    close_reason = std::string(reason);
  }

  std::vector<std::string> take(HubCore& core) {
    std::vector<std::string> objects;
    while (!queue().empty()) {
      Outbound item = queue().front();
      queue().pop();
      objects.push_back(decode(*item.frame));
      core.on_written(*this, item, monotonic_us());
    }
    return objects;
  }

  // The JSON object inside one frame of this session's format.
  std::string decode(const std::string& frame) const {
    if (&kind() == &event_stream_kind()) {
      REQUIRE(frame.size() >= 8);
      REQUIRE(frame.compare(0, 6, "data: ") == 0);
      REQUIRE(frame.compare(frame.size() - 2, 2, "\n\n") == 0);
      std::string json;
      size_t start = 0;
      while (start < frame.size() - 1) {
        size_t end = frame.find('\n', start);
        std::string line = frame.substr(start, end - start);
        start = end + 1;
        if (line.empty()) break;
        REQUIRE(line.compare(0, 6, "data: ") == 0);
        if (!json.empty()) json += '\n';
        json += line.substr(6);
      }
      return json;
    }
    REQUIRE(frame.size() >= 2);
    const auto* b = reinterpret_cast<const unsigned char*>(frame.data());
    REQUIRE(b[0] == 0x81);        // FIN + text
    REQUIRE((b[1] & 0x80) == 0);  // server frames are not masked
    size_t length = b[1] & 0x7f;
    size_t header = 2;
    if (length == 126) {
      REQUIRE(frame.size() >= 4);
      length = (size_t(b[2]) << 8) | b[3];
      header = 4;
    } else if (length == 127) {
      REQUIRE(frame.size() >= 10);
      length = 0;
      for (int i = 2; i < 10; ++i) length = (length << 8) | b[i];
      header = 10;
    }
    REQUIRE(frame.size() == header + length);
    return frame.substr(header);
  }

  int write_requests = 0;
  std::vector<int> close_codes;
  std::string close_reason;
};

struct Parsed {
  rapidjson::Document doc;
  explicit Parsed(const std::string& json) {
    doc.Parse(json.c_str(), json.size());
    INFO(json);
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
  }
  std::string str(const char* key) const {
    REQUIRE(doc.HasMember(key));
    REQUIRE(doc[key].IsString());
    return doc[key].GetString();
  }
  uint64_t num(const char* key) const {
    REQUIRE(doc.HasMember(key));
    REQUIRE(doc[key].IsUint64());
    return doc[key].GetUint64();
  }
  bool has(const char* key) const { return doc.HasMember(key); }
};

// The text of a message object up to its "ts" value (the hub's clock).
std::string message_head(const std::string& channel, const Position& p, const std::string& type,
                         const std::string& data) {
  return "{\"op\":\"message\",\"channel\":\"" + channel + "\",\"epoch\":\"" + p.epoch +
         "\",\"seq\":" + std::to_string(p.seq) + ",\"type\":\"" + type + "\",\"data\":" + data +
         ",\"ts\":";
}

bool is_message(const std::string& json, const std::string& channel, const Position& p,
                const std::string& type, const std::string& data) {
  std::string head = message_head(channel, p, type, data);
  if (json.compare(0, head.size(), head) != 0 || json.back() != '}') return false;
  std::string ts = json.substr(head.size(), json.size() - head.size() - 1);
  return !ts.empty() && ts.find_first_not_of("0123456789") == std::string::npos;
}

// CHECK_MESSAGE(json, channel, position, type, data): is_message, showing `json` when it fails.
#define CHECK_MESSAGE(json, ...)            \
  do {                                      \
    INFO("object: " << (json));             \
    CHECK(is_message((json), __VA_ARGS__)); \
  } while (false)

std::vector<uint64_t> message_seqs(const std::vector<std::string>& objects) {
  std::vector<uint64_t> out;
  for (const auto& json : objects) {
    Parsed p(json);
    if (p.str("op") == "message") out.push_back(p.num("seq"));
  }
  return out;
}

// A hub core with the in-memory broker, as Hub assembles it, minus the sockets.
struct Fixture {
  explicit Fixture(HubOptions o = {})
      : options(std::move(o)),
        broker(options.history_size, options.history_ttl_seconds),
        core(options, metrics) {
    core.use_broker(broker);
  }

  Position publish(const std::string& channel, const std::string& data,
                   const std::string& type = "message") {
    Message m;
    m.channel = channel;
    m.type = type;
    m.data = data;
    Position assigned;
    core.publish(std::move(m), [&](const PublishOutcome& outcome) {
      REQUIRE(outcome.error == BrokerError::kOk);
      assigned = outcome.position;
    });
    REQUIRE(assigned.seq > 0);
    return assigned;
  }

  // Sends one request and returns what the session was sent in answer.
  std::vector<std::string> request(FakeSession& session, const std::string& text) {
    core.on_request(session, text);
    return session.take(core);
  }

  HubOptions options;
  Metrics metrics;
  MemoryBroker broker;
  HubCore core;
};

}  // namespace

TEST_CASE("HubCore answers ping with pong and its ref", "[hub_core]") {
  Fixture f;
  FakeSession s;
  f.core.attach(s);
  CHECK(f.request(s, R"({"op":"ping","id":5})") ==
        std::vector<std::string>{R"({"op":"pong","ref":5})"});
  CHECK(f.request(s, R"({"op":"ping","id":"abc"})") ==
        std::vector<std::string>{R"({"op":"pong","ref":"abc"})"});
  CHECK(f.request(s, R"({"op":"ping"})") == std::vector<std::string>{R"({"op":"pong"})"});
  CHECK(s.write_requests == 3);  // one per empty -> non-empty queue
  CHECK(s.close_codes.empty());
  f.core.detach(s);
}

TEST_CASE("HubCore subscribes, delivers, and unsubscribes", "[hub_core]") {
  Fixture f;
  FakeSession s;
  f.core.attach(s);

  auto answer = f.request(s, R"({"op":"subscribe","channel":"geometry","id":1})");
  REQUIRE(answer.size() == 1);
  Parsed sub(answer[0]);
  std::string epoch = sub.str("epoch");
  CHECK(answer[0] ==
        R"({"op":"subscribed","channel":"geometry","epoch":")" + epoch + R"(","seq":0,"ref":1})");
  CHECK(f.metrics.subscriptions.get() == 1);
  CHECK(f.core.has_subscribers("geometry"));

  Position p1 = f.publish("geometry", R"({"x":1})", "geometry.updated");
  Position p2 = f.publish("geometry", "[2]", "geometry.updated");
  CHECK(p1 == Position{epoch, 1});
  CHECK(p2 == Position{epoch, 2});
  f.publish("elsewhere", "0");
  auto delivered = s.take(f.core);
  REQUIRE(delivered.size() == 2);
  CHECK_MESSAGE(delivered[0], "geometry", p1, "geometry.updated", R"({"x":1})");
  CHECK_MESSAGE(delivered[1], "geometry", p2, "geometry.updated", "[2]");
  REQUIRE(s.cursors().size() == 1);
  CHECK(s.cursors()[0].channel == "geometry");
  CHECK(s.cursors()[0].epoch == epoch);
  CHECK(s.cursors()[0].seq == 2);  // the written item moved the cursor

  CHECK(f.request(s, R"({"op":"unsubscribe","channel":"geometry","id":3})") ==
        std::vector<std::string>{R"({"op":"unsubscribed","channel":"geometry","ref":3})"});
  CHECK(f.metrics.subscriptions.get() == 0);
  CHECK_FALSE(f.core.has_subscribers("geometry"));
  f.publish("geometry", "3");
  CHECK(s.take(f.core).empty());
  CHECK(f.request(s, R"({"op":"unsubscribe","channel":"geometry","id":3})") ==
        std::vector<std::string>{
            R"({"op":"error","code":"not_found","message":"not subscribed to geometry","ref":3})"});
  f.core.detach(s);
}

TEST_CASE("HubCore fans one message out to every subscriber", "[hub_core]") {
  Fixture f;
  FakeSession a, b, c;
  for (FakeSession* s : {&a, &b, &c}) f.core.attach(*s);
  f.request(a, R"({"op":"subscribe","channel":"news"})");
  f.request(b, R"({"op":"subscribe","channel":"news"})");
  f.request(c, R"({"op":"subscribe","channel":"other"})");
  Position p = f.publish("news", R"("hello")");
  auto to_a = a.take(f.core);
  auto to_b = b.take(f.core);
  REQUIRE(to_a.size() == 1);
  CHECK(to_a == to_b);
  CHECK_MESSAGE(to_a[0], "news", p, "message", R"("hello")");
  CHECK(c.take(f.core).empty());
  CHECK(f.metrics.published.get() == 1);
  CHECK(f.metrics.deliveries.get() == 0);  // tallied by the service thread, reported per iteration
  f.core.publish_write_metrics();
  CHECK(f.metrics.deliveries.get() == 2);
  CHECK(f.metrics.latency.count() == 2);
  f.core.publish_write_metrics();  // reported once
  CHECK(f.metrics.deliveries.get() == 2);
  f.core.detach(b);
  f.publish("news", "2");
  CHECK(a.take(f.core).size() == 1);
  f.core.detach(a);
  f.core.detach(c);
  CHECK(f.core.session_count() == 0);
  CHECK(f.metrics.subscriptions.get() == 0);
}

namespace {

HubOptions client_publish_options() {
  HubOptions options;
  options.allow_client_publish = true;
  return options;
}

}  // namespace

TEST_CASE("HubCore refuses a client publish unless anonymous clients may publish", "[hub_core]") {
  Fixture f;
  FakeSession s;
  f.core.attach(s);
  CHECK(
      f.request(s, R"({"op":"publish","channel":"incidents","data":1,"id":4})") ==
      std::vector<std::string>{
          R"({"op":"error","code":"forbidden","message":"may not publish to incidents","ref":4})"});
  CHECK(f.metrics.published.get() == 0);
  f.core.detach(s);
}

TEST_CASE("HubCore publishes a client's request and answers published", "[hub_core]") {
  Fixture f(client_publish_options());
  FakeSession publisher, listener;
  f.core.attach(publisher);
  f.core.attach(listener);
  f.request(listener, R"({"op":"subscribe","channel":"incidents"})");

  auto answer = f.request(
      publisher,
      R"({"op":"publish","channel":"incidents","type":"incident.created","data":"x","id":4})");
  REQUIRE(answer.size() == 1);
  Parsed published(answer[0]);
  std::string epoch = published.str("epoch");
  CHECK(answer[0] ==
        R"({"op":"published","channel":"incidents","epoch":")" + epoch + R"(","seq":1,"ref":4})");
  auto got = listener.take(f.core);
  REQUIRE(got.size() == 1);
  CHECK_MESSAGE(got[0], "incidents", Position{epoch, 1}, "incident.created", R"("x")");

  // `type` defaults to "message"; `data` is any JSON value.
  f.request(publisher, R"({"op":"publish","channel":"incidents","data":null})");
  got = listener.take(f.core);
  REQUIRE(got.size() == 1);
  CHECK_MESSAGE(got[0], "incidents", Position{epoch, 2}, "message", "null");
  f.core.detach(publisher);
  f.core.detach(listener);
}

TEST_CASE("HubCore passes a client's object data through untouched", "[hub_core]") {
  Fixture f(client_publish_options());
  FakeSession publisher, listener;
  f.core.attach(publisher);
  f.core.attach(listener);
  f.request(listener, R"({"op":"subscribe","channel":"incidents"})");
  const std::string data = R"({ "id" : 12345678901234567890123, "tags" : ["a", {"b": 1e300}] })";
  auto answer = f.request(
      publisher, R"({"op":"publish","channel":"incidents","data":)" + data + R"(,"id":4})");
  REQUIRE(answer.size() == 1);
  Parsed published(answer[0]);
  CHECK(published.str("op") == "published");
  auto got = listener.take(f.core);
  REQUIRE(got.size() == 1);
  CHECK_MESSAGE(got[0], "incidents", Position{published.str("epoch"), 1}, "message", data);
  f.core.detach(publisher);
  f.core.detach(listener);
}

TEST_CASE("HubCore answers bad requests with error objects and keeps the session", "[hub_core]") {
  HubOptions options;
  options.max_subscriptions = 2;
  Fixture f(options);
  FakeSession s;
  f.core.attach(s);
  auto error_of = [&](const std::string& text) {
    auto answer = f.request(s, text);
    REQUIRE(answer.size() == 1);
    return answer[0];
  };

  std::string not_json = error_of("not json");
  CHECK(not_json.rfind(R"({"op":"error","code":"bad_request","message":"invalid JSON: )", 0) == 0);
  CHECK_FALSE(Parsed(not_json).has("ref"));
  CHECK(error_of("[]") ==
        R"({"op":"error","code":"bad_request","message":"expected a JSON object"})");
  CHECK(error_of(R"({"op":"dance","id":9})") ==
        R"({"op":"error","code":"bad_request","message":"unknown op: dance","ref":9})");
  CHECK(error_of(R"({"id":9})") ==
        R"({"op":"error","code":"bad_request","message":"missing op","ref":9})");
  CHECK(error_of(R"({"op":"subscribe","id":9})") ==
        R"({"op":"error","code":"bad_request","message":"missing channel","ref":9})");
  CHECK(
      error_of(R"({"op":"subscribe","channel":"a b","id":9})") ==
      R"({"op":"error","code":"bad_request","message":"bad channel name: 1-255 bytes of [A-Za-z0-9_.:@/-]","ref":9})");
  CHECK(error_of(R"({"op":"subscribe","channel":"","id":9})").find("bad channel name") !=
        std::string::npos);
  CHECK(error_of(R"({"op":"subscribe","channel":42,"id":9})") ==
        R"({"op":"error","code":"bad_request","message":"channel must be a string","ref":9})");
  CHECK(
      error_of(R"({"op":"subscribe","channel":"a","since":{"epoch":"e","seq":-1},"id":9})") ==
      R"j({"op":"error","code":"bad_request","message":"since needs epoch (string) and seq (integer)","ref":9})j");
  CHECK(error_of(R"({"op":"publish","channel":"a","id":9})") ==
        R"({"op":"error","code":"bad_request","message":"missing data","ref":9})");

  Parsed first(error_of(R"({"op":"subscribe","channel":"a","id":1})"));
  CHECK(first.str("op") == "subscribed");
  CHECK(error_of(R"({"op":"subscribe","channel":"a","id":2})") ==
        R"({"op":"error","code":"bad_request","message":"already subscribed to a","ref":2})");
  CHECK(Parsed(error_of(R"({"op":"subscribe","channel":"b"})")).str("op") == "subscribed");
  CHECK(error_of(R"({"op":"subscribe","channel":"c","id":3})") ==
        R"j({"op":"error","code":"limit","message":"too many subscriptions (max 2)","ref":3})j");

  CHECK(s.close_codes.empty());
  CHECK(f.request(s, R"({"op":"ping","id":1})") ==
        std::vector<std::string>{R"({"op":"pong","ref":1})"});
  CHECK(f.metrics.errors[static_cast<size_t>(codec::ErrorCode::kBadRequest)].get() == 11);
  CHECK(f.metrics.errors[static_cast<size_t>(codec::ErrorCode::kLimit)].get() == 1);
  f.core.detach(s);
}

TEST_CASE("HubCore keeps every frame UTF-8 when a request holds a lone surrogate escape",
          "[hub_core]") {
  // Browsers fail a WebSocket connection on a text frame that is not UTF-8.
  Fixture f(client_publish_options());
  FakeSession publisher, listener;
  f.core.attach(publisher);
  f.core.attach(listener);
  f.request(listener, R"({"op":"subscribe","channel":"c"})");
  auto to_publisher =
      f.request(publisher, R"({"op":"publish","channel":"c","type":"t\udc00","data":1})");
  auto to_listener = listener.take(f.core);
  auto to_sender = f.request(publisher, R"({"op":"\udfff"})");
  for (const auto* objects : {&to_publisher, &to_listener, &to_sender}) {
    for (const auto& json : *objects) {
      INFO(json);
      CHECK(is_valid_utf8(json));
    }
  }
  CHECK(publisher.close_codes.empty());
  f.core.detach(publisher);
  f.core.detach(listener);
}

TEST_CASE("HubCore keeps an error about a long unknown op UTF-8", "[hub_core]") {
  // The error quotes the op cut at 64 bytes; the cut must not split a character.
  Fixture f;
  FakeSession s;
  f.core.attach(s);
  std::string op = std::string(63, 'a') + "\xc3\xa9\xc3\xa9";
  auto answer = f.request(s, R"({"op":")" + op + R"(","id":1})");
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].rfind(R"({"op":"error","code":"bad_request","message":"unknown op: aaa)", 0) ==
        0);
  CHECK(is_valid_utf8(answer[0]));
  f.core.detach(s);
}

TEST_CASE("HubCore resumes a subscription with since: subscribed, then exactly the missed messages",
          "[hub_core]") {
  Fixture f;
  std::vector<Position> published;
  for (int i = 1; i <= 5; ++i) published.push_back(f.publish("c", std::to_string(i)));
  const std::string epoch = published[0].epoch;
  FakeSession s;
  f.core.attach(s);

  auto answer = f.request(
      s, R"({"op":"subscribe","channel":"c","since":{"epoch":")" + epoch + R"(","seq":2},"id":7})");
  REQUIRE(answer.size() == 4);
  CHECK(answer[0] == R"({"op":"subscribed","channel":"c","epoch":")" + epoch +
                         R"(","seq":5,"recovered":true,"ref":7})");
  CHECK_MESSAGE(answer[1], "c", Position{epoch, 3}, "message", "3");
  CHECK_MESSAGE(answer[2], "c", Position{epoch, 4}, "message", "4");
  CHECK_MESSAGE(answer[3], "c", Position{epoch, 5}, "message", "5");
  f.publish("c", "6");
  CHECK(message_seqs(s.take(f.core)) == std::vector<uint64_t>{6});
  CHECK(f.metrics.resumes_recovered.get() == 1);
  f.core.detach(s);
}

TEST_CASE("HubCore resume from the latest position replays nothing", "[hub_core]") {
  Fixture f;
  Position last;
  for (int i = 1; i <= 3; ++i) last = f.publish("c", "0");
  FakeSession s;
  f.core.attach(s);
  auto answer = f.request(
      s, R"({"op":"subscribe","channel":"c","since":{"epoch":")" + last.epoch + R"(","seq":3}})");
  REQUIRE(answer.size() == 1);
  CHECK(answer[0] == R"({"op":"subscribed","channel":"c","epoch":")" + last.epoch +
                         R"(","seq":3,"recovered":true})");
  f.core.detach(s);
}

TEST_CASE("HubCore resume that cannot be honoured says recovered:false and replays nothing",
          "[hub_core]") {
  HubOptions options;
  options.history_size = 2;
  Fixture f(options);
  Position last;
  for (int i = 1; i <= 5; ++i) last = f.publish("c", "0");
  FakeSession s;
  f.core.attach(s);

  for (const std::string& since : std::vector<std::string>{
           R"({"epoch":"unknown","seq":4})", R"({"epoch":")" + last.epoch + R"(","seq":1})",
           R"({"epoch":")" + last.epoch + R"(","seq":99})"}) {
    INFO(since);
    auto answer = f.request(s, R"({"op":"subscribe","channel":"c","since":)" + since + "}");
    REQUIRE(answer.size() == 1);
    CHECK(answer[0] == R"({"op":"subscribed","channel":"c","epoch":")" + last.epoch +
                           R"(","seq":5,"recovered":false})");
    f.request(s, R"({"op":"unsubscribe","channel":"c"})");
  }
  CHECK(f.metrics.resumes_lost.get() == 3);
  f.core.detach(s);
}

namespace {

// A broker that answers history requests later, as a networked broker does, so that live
// messages arrive while the subscription still waits for its history.
class LateHistoryBroker final : public Broker {
 public:
  // With `snapshot_early`, history is read when asked (live messages after it are new); else
  // when answered (live messages meanwhile are also in the answer).
  explicit LateHistoryBroker(bool snapshot_early)
      : inner_(100, 300), snapshot_early_(snapshot_early) {}

  void attach(BrokerListener& listener) override { inner_.attach(listener); }
  void publish(Message message, std::function<void(const PublishOutcome&)> done) override {
    inner_.publish(std::move(message), std::move(done));
  }
  void history(const std::string& channel, const std::optional<Position>& since,
               std::function<void(HistoryOutcome&)> done) override {
    if (snapshot_early_) {
      inner_.history(channel, since, [this, done](HistoryOutcome& outcome) {
        answers_.push_back([outcome, done]() mutable { done(outcome); });
      });
    } else {
      answers_.push_back([this, channel, since, done] { inner_.history(channel, since, done); });
    }
  }
  void release(const std::string& channel) override { inner_.release(channel); }
  void tick(int64_t now_ms) override { inner_.tick(now_ms); }
  size_t history_bytes() const override { return inner_.history_bytes(); }
  size_t channel_count() const override { return inner_.channel_count(); }

  void answer_all() {
    auto answers = std::move(answers_);
    answers_.clear();
    for (auto& a : answers) a();
  }

 private:
  MemoryBroker inner_;
  bool snapshot_early_;
  std::vector<std::function<void()>> answers_;
};

}  // namespace

TEST_CASE("HubCore joins a late history answer and live messages without gap or duplicate",
          "[hub_core]") {
  bool snapshot_early = GENERATE(true, false);
  INFO("snapshot_early " << snapshot_early);
  HubOptions options;
  Metrics metrics;
  LateHistoryBroker broker(snapshot_early);
  HubCore core(options, metrics);
  core.use_broker(broker);
  auto publish = [&](const std::string& data) {
    Message m;
    m.channel = "c";
    m.data = data;
    core.publish(std::move(m), nullptr);
  };
  publish("1");
  publish("2");
  FakeSession s;
  core.attach(s);
  core.on_request(s, R"({"op":"subscribe","channel":"c","since":{"epoch":"x","seq":0}})");
  CHECK(s.take(core).empty());  // still waiting for the broker
  publish("3");
  publish("4");
  CHECK(s.take(core).empty());  // held, not sent before subscribed
  broker.answer_all();
  auto objects = s.take(core);
  REQUIRE_FALSE(objects.empty());
  Parsed head(objects[0]);
  CHECK(head.str("op") == "subscribed");
  CHECK(head.doc["recovered"].IsFalse());
  uint64_t latest = head.num("seq");
  std::vector<uint64_t> expected;
  for (uint64_t seq = latest + 1; seq <= 4; ++seq) expected.push_back(seq);
  CHECK(message_seqs(objects) == expected);
  publish("5");
  CHECK(message_seqs(s.take(core)) == std::vector<uint64_t>{5});
  core.detach(s);
}

TEST_CASE("HubCore replays a late history answer, then the held live messages, once each",
          "[hub_core]") {
  bool snapshot_early = GENERATE(true, false);
  INFO("snapshot_early " << snapshot_early);
  HubOptions options;
  Metrics metrics;
  LateHistoryBroker broker(snapshot_early);
  HubCore core(options, metrics);
  core.use_broker(broker);
  std::string epoch;
  auto publish = [&](const std::string& data) {
    Message m;
    m.channel = "c";
    m.data = data;
    core.publish(std::move(m), [&](const PublishOutcome& o) { epoch = o.position.epoch; });
  };
  publish("1");
  publish("2");
  FakeSession s;
  core.attach(s);
  core.on_request(
      s, R"({"op":"subscribe","channel":"c","since":{"epoch":")" + epoch + R"(","seq":1}})");
  publish("3");
  publish("4");
  broker.answer_all();
  auto objects = s.take(core);
  REQUIRE_FALSE(objects.empty());
  Parsed head(objects[0]);
  CHECK(head.str("op") == "subscribed");
  CHECK(head.doc["recovered"].IsTrue());
  CHECK(message_seqs(objects) == std::vector<uint64_t>{2, 3, 4});
  core.detach(s);
}

TEST_CASE("HubCore opens a stream with late history answers: every subscribed, then the replays",
          "[hub_core]") {
  HubOptions options;
  Metrics metrics;
  LateHistoryBroker broker(true);
  HubCore core(options, metrics);
  core.use_broker(broker);
  std::map<std::string, Position> latest;
  auto publish = [&](const std::string& channel) {
    Message m;
    m.channel = channel;
    m.data = "0";
    core.publish(std::move(m), [&](const PublishOutcome& o) { latest[channel] = o.position; });
  };
  publish("a");
  publish("a");
  publish("b");
  FakeSession stream(event_stream_kind());
  core.attach(stream);
  core.open_stream(stream, {"a", "b"},
                   resume_from("a:" + latest["a"].epoch + ":0,b:" + latest["b"].epoch + ":0"));
  CHECK(stream.take(core).empty());
  broker.answer_all();
  auto objects = stream.take(core);
  std::vector<std::string> order;
  for (const auto& json : objects) {
    Parsed p(json);
    order.push_back(p.str("op") + " " + p.str("channel"));
  }
  CHECK(order == std::vector<std::string>{"subscribed a", "subscribed b", "message a", "message a",
                                          "message b"});
  core.detach(stream);
}

TEST_CASE("HubCore drops a slow consumer with close 1013 and queues nothing more", "[hub_core]") {
  HubOptions options;
  options.max_queue_bytes = 1000;
  Fixture f(options);
  FakeSession slow, fast;
  f.core.attach(slow);
  f.core.attach(fast);
  f.request(slow, R"({"op":"subscribe","channel":"c"})");
  f.request(fast, R"({"op":"subscribe","channel":"c"})");
  const std::string data = "\"" + std::string(200, 'x') + "\"";

  int published = 0;
  while (slow.close_codes.empty() && published < 20) {
    f.publish("c", data);
    ++published;
    REQUIRE(fast.take(f.core).size() == 1);  // the fast reader drains its queue every time
  }
  REQUIRE(slow.close_codes == std::vector<int>{1013});
  CHECK(published >= 4);  // about 1000 / 280 fit
  CHECK(published <= 5);
  CHECK(slow.closing());
  CHECK(slow.queue().empty());
  CHECK(f.metrics.slow_consumers.get() == 1);
  int write_requests = slow.write_requests;

  f.publish("c", data);
  f.core.on_request(slow, R"({"op":"ping","id":1})");
  CHECK(slow.queue().empty());
  CHECK(slow.close_codes.size() == 1);
  CHECK(slow.write_requests == write_requests);
  CHECK(fast.take(f.core).size() == 1);
  CHECK(fast.close_codes.empty());

  f.core.detach(slow);
  f.publish("c", data);
  CHECK(fast.take(f.core).size() == 1);
  f.core.detach(fast);
}

TEST_CASE("HubCore lets a resume replay exceed the queue bound once", "[hub_core]") {
  HubOptions options;
  options.max_queue_bytes = 1000;
  Fixture f(options);
  const std::string data = "\"" + std::string(200, 'x') + "\"";
  Position first;
  for (int i = 0; i < 10; ++i) {
    Position p = f.publish("c", data);
    if (i == 0) first = p;
  }
  FakeSession s;
  f.core.attach(s);
  f.core.on_request(
      s, R"({"op":"subscribe","channel":"c","since":{"epoch":")" + first.epoch + R"(","seq":0}})");
  CHECK(s.close_codes.empty());
  CHECK(s.queued_bytes() > options.max_queue_bytes);
  auto objects = s.take(f.core);
  CHECK(objects.size() == 11);
  CHECK(message_seqs(objects).size() == 10);
  CHECK(s.queued_bytes() == 0);
  CHECK(s.replay_allowance() == 0);  // spent: the live bound applies again
  f.core.detach(s);
}

TEST_CASE("HubCore open_stream subscribes each channel and resumes what the cursor covers",
          "[hub_core]") {
  Fixture f;
  Position a1 = f.publish("user:42", "1");
  Position a2 = f.publish("user:42", "2");
  Position a3 = f.publish("user:42", "3");
  Position b1 = f.publish("b", "10");
  f.publish("b", "20");
  FakeSession stream(event_stream_kind());
  f.core.attach(stream);
  f.core.open_stream(stream, {"user:42", "b"}, resume_from("user:42:" + a1.epoch + ":1"));

  // Every channel's subscribed comes first, then the replay.
  auto objects = stream.take(f.core);
  REQUIRE(objects.size() == 4);
  CHECK(objects[0] == R"({"op":"subscribed","channel":"user:42","epoch":")" + a1.epoch +
                          R"(","seq":3,"recovered":true})");
  CHECK(objects[1] == R"({"op":"subscribed","channel":"b","epoch":")" + b1.epoch +
                          R"(","seq":2,"recovered":false})");
  CHECK_MESSAGE(objects[2], "user:42", a2, "message", "2");
  CHECK_MESSAGE(objects[3], "user:42", a3, "message", "3");
  CHECK(sse_cursor::format(stream.cursors()) == "user:42:" + a1.epoch + ":3,b:" + b1.epoch + ":2");

  Position b3 = f.publish("b", "30");
  auto live = stream.take(f.core);
  REQUIRE(live.size() == 1);
  CHECK_MESSAGE(live[0], "b", b3, "message", "30");
  CHECK(sse_cursor::format(stream.cursors()) == "user:42:" + a1.epoch + ":3,b:" + b1.epoch + ":3");
  CHECK(f.metrics.resumes_recovered.get() == 1);
  CHECK(f.metrics.resumes_lost.get() == 1);
  f.core.detach(stream);
}

TEST_CASE("HubCore open_stream without a cursor, or with garbage, subscribes at the latest",
          "[hub_core]") {
  Fixture f;
  Position a = f.publish("a", "1");
  FakeSession fresh(event_stream_kind());
  f.core.attach(fresh);
  f.core.open_stream(fresh, {"a"}, resume_from(""));
  CHECK(fresh.take(f.core) ==
        std::vector<std::string>{R"({"op":"subscribed","channel":"a","epoch":")" + a.epoch +
                                 R"(","seq":1})"});

  FakeSession garbage(event_stream_kind());
  f.core.attach(garbage);
  f.core.open_stream(garbage, {"a"}, resume_from("%%%,::,a:b"));
  CHECK(garbage.take(f.core) ==
        std::vector<std::string>{R"({"op":"subscribed","channel":"a","epoch":")" + a.epoch +
                                 R"(","seq":1,"recovered":false})"});
  f.core.detach(fresh);
  f.core.detach(garbage);
}

TEST_CASE("HubCore frames SSE messages whose data holds raw newlines as several data lines",
          "[hub_core]") {
  Fixture f;
  FakeSession stream(event_stream_kind());
  f.core.attach(stream);
  f.core.open_stream(stream, {"c"}, resume_from(""));
  stream.take(f.core);
  f.publish("c", "[1,\n2]");
  REQUIRE(stream.queue().size() == 1);
  const std::string& frame = *stream.queue().front().frame;
  CHECK(frame.find("\"data\":[1,\ndata: 2]") != std::string::npos);
  auto objects = stream.take(f.core);
  REQUIRE(objects.size() == 1);
  CHECK(Parsed(objects[0]).str("op") == "message");
  f.core.detach(stream);
}

TEST_CASE("HubCore sends a ping on a stream idle for the heartbeat interval", "[hub_core]") {
  HubOptions options;
  options.heartbeat_seconds = 25;
  Fixture f(options);
  FakeSession idle, busy;
  f.core.attach(idle);
  f.core.attach(busy);
  int64_t t0 = monotonic_us() / 1000;
  f.core.tick_at(t0);
  CHECK(idle.queue().empty());
  idle.last_queued_ms -= 26'000;
  f.core.tick_at(t0 + HubCore::kSweepMs);  // one whole sweep later: every session was visited
  auto objects = idle.take(f.core);
  REQUIRE(objects.size() == 1);
  Parsed ping(objects[0]);
  CHECK(ping.str("op") == "ping");
  CHECK(ping.num("ts") > 1'600'000'000'000ull);
  CHECK(busy.queue().empty());
  CHECK(f.metrics.heartbeats_sent.get() == 1);
  f.core.detach(idle);
  f.core.detach(busy);
}

TEST_CASE("HubCore detach forgets the session's subscriptions and frees unused channels",
          "[hub_core]") {
  Fixture f;
  FakeSession s(websocket_kind(), "10.0.0.1");
  f.core.attach(s);
  CHECK(f.metrics.of(websocket_kind()).open.get() == 1);
  CHECK(f.metrics.of(websocket_kind()).accepted.get() == 1);
  f.request(s, R"({"op":"subscribe","channel":"a"})");
  f.request(s, R"({"op":"subscribe","channel":"b"})");
  CHECK(f.broker.channel_count() == 2);
  f.core.detach(s);
  CHECK(f.core.session_count() == 0);
  CHECK(f.metrics.of(websocket_kind()).open.get() == 0);
  CHECK(f.metrics.of(websocket_kind()).accepted.get() == 1);
  CHECK(f.metrics.subscriptions.get() == 0);
  CHECK_FALSE(f.core.has_subscribers("a"));
  CHECK(f.broker.channel_count() == 0);  // no history, no subscribers
  f.core.detach(s);                      // a second detach is harmless
}
