// Tokens: sent as Authorization: Bearer on both transports; refusals are reported as errors and
// are not mistaken for a proxy that blocks WebSocket (no fallback).
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <ctime>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

namespace {

const char kSecret[] = "client-test-secret";

std::string base64url(const std::string& in) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

// An HS256 token for `sub` that may subscribe and publish to channels starting with "ok".
std::string token() {
  std::string header = base64url(R"({"alg":"HS256","typ":"JWT"})");
  std::string payload =
      base64url(R"({"sub":"tester","exp":)" + std::to_string(std::time(nullptr) + 3600) +
                R"(,"channels":["ok*"],"publish":["ok*"]})");
  std::string signed_part = header + "." + payload;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), kSecret, sizeof kSecret - 1,
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
       &mac_len);
  return signed_part + "." + base64url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

long find_error(const EventLog::Events& events, const std::string& code) {
  return EventLog::find(events, 0, [&](const rthub::ClientEvent& e) {
    return e.kind == Kind::kError && e.code == code;
  });
}

}  // namespace

TEST_CASE("a hub that refuses the client's token is reported, and never counts as a fallback",
          "[auth]") {
  bool sse = GENERATE(false, true);
  HubProcess hub({"--jwt-secret", kSecret});
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"ok1"};
  options.sse_only = sse;
  options.token = "not-a-token";
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait([](const EventLog::Events& ev) { return find_error(ev, "unauthorized") >= 0; },
                   5000));
  REQUIRE(log.wait_state(ClientState::kDisconnected, ClientTransport::kNone, 5000) >= 0);
  auto events = log.snapshot();
  // Over WebSocket the refusal leads to one event stream attempt (docs/CLIENT.md, "Fallback": a
  // browser cannot see why a WebSocket failed), refused the same way: no fallback is counted.
  CHECK(EventLog::find(events, 0, [](const rthub::ClientEvent& e) {
          return EventLog::is_state(e, ClientState::kConnected);
        }) < 0);
  CHECK(client.stats().fallbacks == 0);
}

TEST_CASE("the client's token opens both transports, and a forbidden channel is dropped",
          "[auth]") {
  bool sse = GENERATE(false, true);
  ClientTransport transport = sse ? ClientTransport::kEventStream : ClientTransport::kWebSocket;
  HubProcess hub({"--jwt-secret", kSecret});
  EventLog log;
  rthub::ClientOptions options;
  options.url = hub.url();
  options.channels = {"ok1"};
  options.sse_only = sse;
  options.token = token();
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();
  REQUIRE(log.wait_state(ClientState::kConnected, transport, 5000) >= 0);
  REQUIRE(log.wait_subscribed("ok1", 5000));
  REQUIRE(publish(hub.port(), "ok1", "1") == 200);
  REQUIRE(log.wait_messages("ok1", 1, 5000));
  if (sse) return;  // an SSE stream with a forbidden channel is refused whole (HTTP 403)

  client.subscribe("nope");
  REQUIRE(
      log.wait([](const EventLog::Events& ev) { return find_error(ev, "forbidden") >= 0; }, 5000));
  auto events = log.snapshot();
  CHECK(events[find_error(events, "forbidden")].channel == "nope");
  uint64_t id = client.publish("ok1", "t", "{\"by\":\"token\"}");
  REQUIRE(log.wait(
      [id](const EventLog::Events& ev) {
        return EventLog::find(ev, 0, [id](const rthub::ClientEvent& e) {
                 return e.kind == Kind::kPublished && e.request_id == id;
               }) >= 0;
      },
      5000));
  REQUIRE(log.wait_messages("ok1", 2, 5000));
  CHECK(client.stats().reconnects == 0);
}
