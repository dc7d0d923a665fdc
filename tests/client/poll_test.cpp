// The poll API (next_event, event_fd) for hosts that cannot take calls on a foreign thread, in
// C++ and through the C ABI.
#include <catch2/catch.hpp>

#include <poll.h>

#include <cstring>
#include <thread>

#include "rthub/client.hpp"
#include "rthub/rthub.h"
#include "support/checks.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;

namespace {

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

// Polls events until `done` says so (or 10 s pass), appending them to `out`.
template <typename Done>
bool poll_until(rthub::Client& client, EventLog::Events& out, Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!readable(client.event_fd(), 100)) continue;
    rthub::ClientEvent e;
    while (client.next_event(e, 0)) out.push_back(e);
    if (done(out)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("poll API: next_event and a descriptor readable while events wait", "[poll]") {
  HubProcess hub;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"a"};
  rthub::Client client(options);
  int fd = client.event_fd();
  REQUIRE(fd >= 0);
  CHECK_FALSE(readable(fd, 0));
  rthub::ClientEvent e;
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(client.next_event(e, 100));  // times out
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(90));

  client.start();
  EventLog::Events events;
  REQUIRE(poll_until(client, events, [](const EventLog::Events& ev) {
    return count_kind(ev, Kind::kSubscribed) == 1;
  }));
  CHECK(EventLog::is_state(events.front(), rthub::ClientState::kConnecting));
  CHECK_FALSE(readable(fd, 0));  // drained: not readable any more (level-triggered)

  REQUIRE(publish(hub.port(), "a", "{\"p\":1}") == 200);
  REQUIRE(readable(fd, 5000));
  CHECK(readable(fd, 0));  // stays readable until taken
  REQUIRE(client.next_event(e, 0));
  CHECK(e.kind == Kind::kMessage);
  CHECK(e.data == "{\"p\":1}");
  CHECK_FALSE(readable(fd, 0));

  client.stop();
  REQUIRE(client.next_event(e, 1000));  // what came before the stop can still be taken
  CHECK(EventLog::is_state(e, rthub::ClientState::kClosed));
  CHECK_FALSE(client.next_event(e, 0));
  CHECK_FALSE(client.next_event(e, -1));  // stopped and drained: no endless wait
}

TEST_CASE("poll API: a host that stops polling pauses the client, then gets everything in order",
          "[poll]") {
  HubProcess hub;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"a"};
  options.max_pending_events = 20;
  rthub::Client client(options);
  client.start();
  EventLog::Events events;
  REQUIRE(poll_until(client, events, [](const EventLog::Events& ev) {
    return count_kind(ev, Kind::kSubscribed) == 1;
  }));
  const int kCount = 500;
  for (int i = 1; i <= kCount; ++i) REQUIRE(publish(hub.port(), "a", std::to_string(i)) == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the host is busy elsewhere
  REQUIRE(poll_until(client, events, [](const EventLog::Events& ev) {
    return EventLog::messages(ev, "a").size() >= static_cast<size_t>(kCount);
  }));
  CHECK(EventLog::messages(events, "a").size() == static_cast<size_t>(kCount));
  check_exactly_once_in_order(events, "a");
  CHECK(client.stats().messages == static_cast<uint64_t>(kCount));
  CHECK(client.stats().watchdog_timeouts == 0);
}

TEST_CASE("poll API is not for callback clients", "[poll]") {
  rthub::ClientOptions options;
  options.url = "http://127.0.0.1:1";
  options.on_event = [](const rthub::ClientEvent&) {};
  rthub::Client client(options);
  CHECK(client.event_fd() == -1);
  rthub::ClientEvent e;
  CHECK_THROWS_AS(client.next_event(e, 0), rthub::Error);
}

TEST_CASE("C API: options, polling, descriptor, counters", "[poll][capi]") {
  HubProcess hub;
  rthub_client_options options;
  rthub_client_options_init(&options, sizeof options);
  CHECK(options.struct_size == sizeof options);
  CHECK(options.backoff_base_ms == 500);
  CHECK(options.heartbeat_seconds == 25);
  rthub_client* client = nullptr;
  CHECK(rthub_client_new(&options, &client) == RTHUB_ERR_INVALID);  // url is required
  CHECK(client == nullptr);
  std::string url = hub.url();
  const char* channels[] = {"a", "bad name"};
  options.url = url.c_str();
  options.channels = channels;
  options.channel_count = 2;
  CHECK(rthub_client_new(&options, &client) == RTHUB_ERR_INVALID);
  options.channel_count = 1;
  REQUIRE(rthub_client_new(&options, &client) == RTHUB_OK);
  REQUIRE(client != nullptr);
  int fd = rthub_client_fd(client);
  CHECK(fd >= 0);
  CHECK(rthub_client_fd(nullptr) == -1);
  const rthub_client_event* event = nullptr;
  CHECK(rthub_client_next_event(client, 0, &event) == RTHUB_ERR_TIMEOUT);
  CHECK(event == nullptr);

  REQUIRE(rthub_client_start(client) == RTHUB_OK);
  CHECK(rthub_client_start(client) == RTHUB_ERR_STATE);
  bool subscribed = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!subscribed && std::chrono::steady_clock::now() < deadline) {
    if (rthub_client_next_event(client, 100, &event) != RTHUB_OK) continue;
    REQUIRE(event->struct_size == sizeof(rthub_client_event));
    if (event->kind == RTHUB_CLIENT_EVENT_STATE && event->state == RTHUB_CLIENT_CONNECTED)
      CHECK(std::strcmp(rthub_transport_name(event->transport), "ws") == 0);
    subscribed = event->kind == RTHUB_CLIENT_EVENT_SUBSCRIBED;
  }
  REQUIRE(subscribed);
  CHECK(std::string(event->channel, event->channel_len) == "a");
  CHECK(event->recovered == -1);

  CHECK(rthub_client_subscribe(client, "bad name", nullptr) == RTHUB_ERR_INVALID);
  CHECK(rthub_client_subscribe(nullptr, "a", nullptr) == RTHUB_ERR_INVALID);
  uint64_t id = 99;
  CHECK(rthub_client_publish(client, "a", nullptr, "{oops", 5, &id) == RTHUB_ERR_INVALID);
  CHECK(id == 0);

  REQUIRE(publish(hub.port(), "a", "{\"c\":\"\\u00e9\"}") == 200);
  REQUIRE(readable(fd, 5000));
  REQUIRE(rthub_client_next_event(client, 0, &event) == RTHUB_OK);
  REQUIRE(event->kind == RTHUB_CLIENT_EVENT_MESSAGE);
  CHECK(std::string(event->data, event->data_len) == "{\"c\":\"\\u00e9\"}");
  CHECK(event->data[event->data_len] == '\0');
  CHECK(event->seq == 1);
  CHECK(event->epoch_len > 0);
  CHECK(std::string(event->type, event->type_len) == "test");

  rthub_client_counters counters;
  counters.struct_size = sizeof counters;
  REQUIRE(rthub_client_get_counters(client, &counters) == RTHUB_OK);
  CHECK(counters.connects == 1);
  CHECK(counters.messages == 1);
  CHECK(counters.fallbacks == 0);
  CHECK(std::strcmp(rthub_client_state_name(RTHUB_CLIENT_FALLBACK), "fallback") == 0);

  REQUIRE(rthub_client_stop(client) == RTHUB_OK);
  CHECK(rthub_client_stop(client) == RTHUB_OK);
  rthub_client_free(client);
  rthub_client_free(nullptr);
}

namespace {

struct CallbackSink {
  std::mutex lock;
  std::vector<std::string> lines;
  std::thread::id thread;
};

void on_event(const rthub_client_event* event, void* user_data) {
  auto* sink = static_cast<CallbackSink*>(user_data);
  std::lock_guard<std::mutex> guard(sink->lock);
  sink->thread = std::this_thread::get_id();
  if (event->kind == RTHUB_CLIENT_EVENT_MESSAGE)
    sink->lines.emplace_back(event->data, event->data_len);
}

}  // namespace

TEST_CASE("C API: callbacks on the client's thread with user_data", "[poll][capi]") {
  HubProcess hub;
  CallbackSink sink;
  std::string url = hub.url();
  rthub_client_options options;
  rthub_client_options_init(&options, sizeof options);
  options.url = url.c_str();
  options.on_event = on_event;
  options.user_data = &sink;
  rthub_client* client = nullptr;
  REQUIRE(rthub_client_new(&options, &client) == RTHUB_OK);
  CHECK(rthub_client_fd(client) == -1);
  const rthub_client_event* event = nullptr;
  CHECK(rthub_client_next_event(client, 0, &event) == RTHUB_ERR_STATE);
  REQUIRE(rthub_client_subscribe(client, "c", nullptr) == RTHUB_OK);
  REQUIRE(rthub_client_start(client) == RTHUB_OK);
  // Subscribed before the hub has the channel: publish until the first one arrives.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
    {
      std::lock_guard<std::mutex> guard(sink.lock);
      if (!sink.lines.empty()) break;
    }
    publish(hub.port(), "c", std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  {
    std::lock_guard<std::mutex> guard(sink.lock);
    REQUIRE_FALSE(sink.lines.empty());
    CHECK(sink.thread != std::this_thread::get_id());
  }
  rthub_client_free(client);
}
