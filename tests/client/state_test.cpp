// Keyed state and presence through the client: a late joiner gets the snapshot, then the live
// messages after it with no gap and no duplicate while publishes race its subscribe; a resume the
// hub cannot honour brings a fresh snapshot; presence members, join and leave between clients.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/event_log.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"
#include "support/upgrade_proxy.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

namespace {

int publish_keyed(int port, const std::string& channel, const std::string& key,
                  const std::string& data, bool deleted = false) {
  std::string body = "{\"channel\":\"" + channel + "\",\"type\":\"zone\",\"key\":\"" + key + "\"";
  body += deleted ? ",\"delete\":true}" : ",\"data\":" + data + "}";
  return http_request(port, "POST", "/publish", body).status;
}

// A host's keyed state: the snapshot replaces it, each live keyed message updates it. Also
// checks what the client promises: the first live message follows the snapshot's seq, and the
// live messages after it are consecutive.
struct AppliedState {
  std::map<std::string, std::string> values;  // key -> data
  size_t snapshots = 0;

  void apply(const EventLog::Events& events, const std::string& channel) {
    std::optional<uint64_t> last;
    for (const auto& e : events) {
      if (e.channel != channel) continue;
      if (e.kind == Kind::kSnapshot) {
        values.clear();
        uint64_t previous = 0;
        for (const auto& item : e.items) {
          CHECK(item.seq > previous);  // seq order
          CHECK(item.seq <= e.position.seq);
          previous = item.seq;
          values[item.key] = item.data;
        }
        last = e.position.seq;
        snapshots++;
      } else if (e.kind == Kind::kReset) {
        last = e.position.seq;
      } else if (e.kind == Kind::kMessage) {
        INFO("message " << e.position.seq << " after " << (last ? *last : 0));
        if (last) CHECK(e.position.seq == *last + 1);
        last = e.position.seq;
        if (e.key.empty()) continue;
        if (e.deleted)
          values.erase(e.key);
        else
          values[e.key] = e.data;
      }
    }
  }
};

// The hub's current state of `channel`, as a fresh snapshot subscriber sees it.
std::map<std::string, std::string> hub_state(const std::string& url, const std::string& channel) {
  EventLog log;
  rthub::ClientOptions options;
  options.url = url;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  rthub::SubscribeOptions subscribe;
  subscribe.snapshot = true;
  client.subscribe(channel, subscribe);
  REQUIRE(log.wait([](const EventLog::Events& ev) { return count_kind(ev, Kind::kSnapshot) == 1; },
                   5000));
  AppliedState state;
  state.apply(log.snapshot(), channel);
  return state.values;
}

bool has_key(EventLog& log, const std::string& channel, const std::string& key, int timeout_ms) {
  return log.wait(
      [&](const EventLog::Events& events) {
        AppliedState state;
        state.apply(events, channel);
        return state.values.count(key) != 0;
      },
      timeout_ms);
}

// Waits for the presence answer to request `request_id` (0: the one a stream's `subscribed`
// brings) and returns it.
rthub::ClientEvent presence_answer(EventLog& log, uint64_t request_id) {
  auto is_answer = [request_id](const rthub::ClientEvent& e) {
    return e.kind == Kind::kPresence && e.request_id == request_id;
  };
  REQUIRE(log.wait(
      [&](const EventLog::Events& ev) { return EventLog::find(ev, 0, is_answer) >= 0; }, 5000));
  auto events = log.snapshot();
  return events[EventLog::find(events, 0, is_answer)];
}

}  // namespace

TEST_CASE("a late joiner gets the snapshot, then every live message once", "[state]") {
  bool sse = GENERATE(false, true);
  HubProcess hub;
  for (int k = 0; k < 6; ++k)
    REQUIRE(publish_keyed(hub.port(), "geometry", "zone-" + std::to_string(k), "0") == 200);

  // 500 publishes over 20 keys (every seventh a delete) race the subscribe below.
  std::atomic<int> published{0};
  std::thread publisher([&] {
    for (int i = 1; i <= 500; ++i) {
      std::string key = "zone-" + std::to_string(i % 20);
      publish_keyed(hub.port(), "geometry", key, std::to_string(i), i % 7 == 0);
      published++;
    }
  });
  REQUIRE(wait_until([&] { return published >= 50; }, 10000));
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.sse_only = sse;
  options.channels = {"geometry"};
  options.snapshot = true;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  publisher.join();
  REQUIRE(publish_keyed(hub.port(), "geometry", "end", "true") == 200);
  REQUIRE(has_key(log, "geometry", "end", 10000));

  auto events = log.snapshot();
  AppliedState state;
  state.apply(events, "geometry");
  CHECK(state.snapshots == 1);
  CHECK(count_kind(events, Kind::kReset) == 0);
  long snapshot = EventLog::find(
      events, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kSnapshot; });
  REQUIRE(snapshot >= 0);
  CHECK(events[snapshot].position.seq >= 6 + 50);
  CHECK(events[snapshot].data.front() == '[');
  // No message of the channel before its snapshot: the snapshot is the starting state. On a slow
  // machine the client may subscribe only after the last publish, and then every message is in
  // the snapshot and none follows it.
  long first_message = EventLog::find(
      events, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kMessage; });
  CHECK((first_message == -1 || first_message > snapshot));
  CHECK(state.values == hub_state(hub.url(), "geometry"));
  CHECK(client.stats().snapshots == 1);
}

TEST_CASE("a resume the hub cannot honour brings a fresh snapshot", "[state]") {
  bool sse = GENERATE(false, true);
  ClientTransport transport = sse ? ClientTransport::kEventStream : ClientTransport::kWebSocket;
  HubProcess hub({"--history", "5"});
  UpgradeProxy proxy(hub.port(), UpgradeProxy::Mode::kPass);
  REQUIRE(publish_keyed(hub.port(), "geometry", "a", "1") == 200);
  EventLog log;
  rthub::ClientOptions options;
  options.url = proxy.url();
  options.sse_only = sse;
  options.backoff_base_ms = 200;
  // Its reconnect is held by the proxy below only while the test publishes: a loaded machine
  // must not turn that wait into a handshake timeout (and a fallback to another transport).
  options.handshake_timeout_ms = 60000;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  rthub::SubscribeOptions subscribe;
  subscribe.snapshot = true;
  client.subscribe("geometry", subscribe);
  REQUIRE(log.wait([](const EventLog::Events& ev) { return count_kind(ev, Kind::kSnapshot) == 1; },
                   5000));
  REQUIRE(publish_keyed(hub.port(), "geometry", "b", "2") == 200);
  REQUIRE(has_key(log, "geometry", "b", 5000));

  // More changes than the hub retains (--history 5) happen while the client is away: the proxy
  // holds its reconnect until they are made (with backoff_base_ms 200 it would otherwise be back
  // at any point of them on a loaded machine, and resume, or take its snapshot, in their middle).
  size_t before = log.size();
  proxy.set_mode(UpgradeProxy::Mode::kHold);
  proxy.drop_all();
  REQUIRE(log.wait_state(ClientState::kDisconnected, transport, 5000, before) >= 0);
  for (int i = 0; i < 10; ++i)
    REQUIRE(publish_keyed(hub.port(), "geometry", "c" + std::to_string(i), std::to_string(i)) ==
            200);
  REQUIRE(publish_keyed(hub.port(), "geometry", "a", "", true) == 200);
  proxy.set_mode(UpgradeProxy::Mode::kPass);
  REQUIRE(log.wait([](const EventLog::Events& ev) { return count_kind(ev, Kind::kSnapshot) == 2; },
                   10000));

  auto events = log.snapshot();
  long resubscribed = EventLog::find(
      events, before, [](const rthub::ClientEvent& e) { return e.kind == Kind::kSubscribed; });
  REQUIRE(resubscribed >= 0);
  CHECK(events[resubscribed].recovered == false);
  CHECK(count_kind(events, Kind::kReset) == 1);  // said once, and the snapshot is the reload
  AppliedState state;
  state.apply(events, "geometry");
  CHECK(state.values.size() == 11);  // b and c0..c9; a was deleted
  CHECK(state.values.count("a") == 0);
  CHECK(state.values == hub_state(hub.url(), "geometry"));

  // Live messages continue after the fresh snapshot.
  REQUIRE(publish_keyed(hub.port(), "geometry", "d", "4") == 200);
  REQUIRE(has_key(log, "geometry", "d", 5000));
  AppliedState after;
  after.apply(log.snapshot(), "geometry");
  CHECK(after.values.size() == 12);
}

TEST_CASE("presence: members, join and leave between two clients", "[state]") {
  HubProcess hub;
  EventLog alice_log, bob_log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"map"};
  options.presence = true;
  options.on_event = alice_log.sink();
  rthub::Client alice(options);
  alice.start();
  // After its subscribe the client asks for the members by itself: alice alone.
  REQUIRE(alice_log.wait(
      [](const EventLog::Events& ev) { return count_kind(ev, Kind::kPresence, "map") == 1; },
      5000));
  auto first = alice_log.snapshot();
  long members = EventLog::find(
      first, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kPresence; });
  REQUIRE(first[members].clients.size() == 1);
  uint64_t alice_id = first[members].clients[0].id;
  CHECK_FALSE(first[members].clients[0].user.has_value());  // no token: user null
  CHECK(first[members].request_id == 0);

  options.on_event = bob_log.sink();
  auto bob = std::make_unique<rthub::Client>(options);
  bob->start();
  REQUIRE(alice_log.wait(
      [](const EventLog::Events& ev) { return count_kind(ev, Kind::kJoin, "map") == 1; }, 5000));
  REQUIRE(bob_log.wait_subscribed("map", 5000));
  auto joined = alice_log.snapshot();
  long join =
      EventLog::find(joined, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kJoin; });
  REQUIRE(joined[join].clients.size() == 1);
  uint64_t bob_id = joined[join].clients[0].id;
  CHECK(bob_id != alice_id);
  CHECK(joined[join].data.find("\"id\":" + std::to_string(bob_id)) != std::string::npos);

  // Asked by the host: both members, answered with the request's id.
  uint64_t asked = bob->presence("map");
  rthub::ClientEvent answer = presence_answer(bob_log, asked);
  std::vector<uint64_t> ids;
  for (const auto& member : answer.clients) ids.push_back(member.id);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<uint64_t>{std::min(alice_id, bob_id), std::max(alice_id, bob_id)});
  // A member is not told of itself... nor of alice, who was there before bob subscribed.
  CHECK(count_kind(bob_log.snapshot(), Kind::kJoin) == 0);

  bob.reset();  // stops: its connection ends
  REQUIRE(alice_log.wait(
      [](const EventLog::Events& ev) { return count_kind(ev, Kind::kLeave, "map") == 1; }, 5000));
  auto left = alice_log.snapshot();
  long leave =
      EventLog::find(left, 0, [](const rthub::ClientEvent& e) { return e.kind == Kind::kLeave; });
  REQUIRE(left[leave].clients.size() == 1);
  CHECK(left[leave].clients[0].id == bob_id);
}

TEST_CASE("a keyed publish and delete from the client; presence over SSE by GET /presence",
          "[state]") {
  HubProcess hub({"--allow-client-publish"});
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"geometry"};
  options.snapshot = true;
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait([](const EventLog::Events& ev) { return count_kind(ev, Kind::kSnapshot) == 1; },
                   5000));
  rthub::ClientPublishOptions keyed;
  keyed.key = "zone-1";
  uint64_t put = client.publish("geometry", "zone", "{\"x\":1}", keyed);
  REQUIRE(has_key(log, "geometry", "zone-1", 5000));
  keyed.delete_key = true;
  uint64_t removed = client.publish("geometry", "zone", "", keyed);
  REQUIRE(log.wait(
      [&](const EventLog::Events& ev) {
        return EventLog::find(ev, 0, [&](const rthub::ClientEvent& e) {
                 return e.kind == Kind::kPublished && e.request_id == removed;
               }) >= 0;
      },
      5000));
  REQUIRE(log.wait(
      [](const EventLog::Events& ev) {
        AppliedState state;
        state.apply(ev, "geometry");
        return state.values.empty() && !EventLog::messages(ev, "geometry").empty() &&
               EventLog::messages(ev, "geometry").back().deleted;
      },
      5000));
  CHECK(put != removed);
  CHECK(hub_state(hub.url(), "geometry").empty());
  rthub::ClientPublishOptions bad;
  bad.delete_key = true;
  CHECK_THROWS_AS(client.publish("geometry", "zone", "", bad), rthub::Error);
  bad.key = std::string(257, 'k');
  CHECK_THROWS_AS(client.publish("geometry", "zone", "1", bad), rthub::Error);

  // A WebSocket member of "map", then a client streaming over SSE with presence: the stream
  // cannot carry join or leave, so the client reads GET /presence after the stream's
  // `subscribed` (request id 0) and for presence().
  EventLog ws_log;
  rthub::ClientOptions ws_options;
  ws_options.url = hub.url();
  ws_options.channels = {"map"};
  ws_options.on_event = ws_log.sink();
  auto ws_member = std::make_unique<rthub::Client>(ws_options);
  ws_member->start();
  REQUIRE(ws_log.wait_subscribed("map", 5000));

  EventLog sse_log;
  rthub::ClientOptions sse_options;
  sse_options.url = hub.url();
  sse_options.sse_only = true;
  sse_options.channels = {"map"};
  sse_options.presence = true;
  sse_options.on_event = sse_log.sink();
  rthub::Client sse_client(sse_options);
  sse_client.start();
  auto members_answered = [&](uint64_t request_id) {
    rthub::ClientEvent answer = presence_answer(sse_log, request_id);
    CHECK(answer.channel == "map");
    CHECK(answer.data.front() == '[');
    return answer.clients;
  };
  // Every subscriber is a member: the WebSocket client and the stream itself.
  CHECK(members_answered(0).size() == 2);
  CHECK(count_kind(sse_log.snapshot(), Kind::kError) == 0);

  ws_member.reset();  // its connection ends: one member left
  auto members_listed = [&] {
    std::string body = http_request(hub.port(), "GET", "/presence?channel=map").body;
    size_t count = 0;
    for (size_t at = body.find("\"id\":"); at != std::string::npos;
         at = body.find("\"id\":", at + 1))
      ++count;
    return count;
  };
  REQUIRE(wait_until([&] { return members_listed() == 1; }, 5000));
  uint64_t asked = sse_client.presence("map");
  CHECK(asked != 0);
  CHECK(members_answered(asked).size() == 1);
  CHECK(count_kind(sse_log.snapshot(), Kind::kError) == 0);
}
