// rthub-listen against a real hub: one JSON object per line, the transport in its state lines,
// exit 0 on SIGINT.
#include <catch2/catch.hpp>

#include <signal.h>

#include "support/child_process.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;

TEST_CASE("rthub-listen prints messages and states as JSON lines and exits 0 on SIGINT",
          "[listen]") {
  bool sse = GENERATE(false, true);
  HubProcess hub;
  std::vector<std::string> argv = {RTHUB_LISTEN, hub.url(),   "--channel",
                                   "a",          "--channel", "user:7"};
  if (sse) argv.push_back("--sse");
  ChildProcess listen(argv);
  std::string transport = sse ? "\"transport\":\"sse\"" : "\"transport\":\"ws\"";
  std::string line;
  REQUIRE(listen.wait_for_line("\"state\":\"connected\"", 5000, &line));
  CHECK(line.find(transport) != std::string::npos);
  REQUIRE(listen.wait_for_line("\"channel\":\"user:7\"", 5000));  // subscribed
  REQUIRE(publish(hub.port(), "user:7", "{\"x\":[1,\"two\"]}") == 200);
  REQUIRE(listen.wait_for_line("\"event\":\"message\"", 5000, &line));
  CHECK(line.find("\"channel\":\"user:7\"") != std::string::npos);
  CHECK(line.find("\"data\":{\"x\":[1,\"two\"]}") != std::string::npos);
  CHECK(line.find("\"seq\":1") != std::string::npos);
  listen.signal(SIGINT);
  while (listen.read_line(line, 2000)) {
  }
  CHECK(listen.wait_exit(5000) == 0);
  REQUIRE_FALSE(listen.lines().empty());
  CHECK(listen.lines().back().find("\"state\":\"closed\"") != std::string::npos);
  for (const auto& l : listen.lines()) {
    CHECK(l.front() == '{');
    CHECK(l.back() == '}');
  }
}

TEST_CASE("rthub-listen refuses bad usage", "[listen]") {
  ChildProcess no_channel({RTHUB_LISTEN, "http://127.0.0.1:1"});
  CHECK(no_channel.wait_exit(5000) == 2);
  ChildProcess bad_url({RTHUB_LISTEN, "nota-url", "--channel", "a"});
  CHECK(bad_url.wait_exit(5000) == 2);
}

TEST_CASE("rthub-listen --snapshot --presence prints the state, members, join and leave",
          "[listen]") {
  HubProcess hub;
  REQUIRE(http_request(hub.port(), "POST", "/publish",
                       "{\"channel\":\"map\",\"type\":\"zone\",\"key\":\"z1\",\"data\":{\"n\":1}}")
              .status == 200);
  ChildProcess listen({RTHUB_LISTEN, hub.url(), "--channel", "map", "--snapshot", "--presence"});
  std::string line;
  REQUIRE(listen.wait_for_line("\"event\":\"snapshot\"", 5000, &line));
  CHECK(line.find("\"seq\":1") != std::string::npos);
  CHECK(line.find("\"items\":[{") != std::string::npos);
  CHECK(line.find("\"key\":\"z1\"") != std::string::npos);
  REQUIRE(listen.wait_for_line("\"event\":\"presence\"", 5000, &line));
  CHECK(line.find("\"clients\":[{\"id\":") != std::string::npos);

  REQUIRE(http_request(hub.port(), "POST", "/publish",
                       "{\"channel\":\"map\",\"type\":\"zone\",\"key\":\"z1\",\"delete\":true}")
              .status == 200);
  REQUIRE(listen.wait_for_line("\"event\":\"message\"", 5000, &line));
  CHECK(line.find("\"key\":\"z1\"") != std::string::npos);
  CHECK(line.find("\"delete\":true") != std::string::npos);

  {
    ChildProcess other({RTHUB_LISTEN, hub.url(), "--channel", "map"});
    REQUIRE(listen.wait_for_line("\"event\":\"join\"", 5000, &line));
    CHECK(line.find("\"client\":{\"id\":") != std::string::npos);
    other.signal(SIGINT);
    CHECK(other.wait_exit(5000) == 0);
  }
  REQUIRE(listen.wait_for_line("\"event\":\"leave\"", 5000, &line));
  listen.signal(SIGINT);
  while (listen.read_line(line, 2000)) {
  }
  CHECK(listen.wait_exit(5000) == 0);
}
