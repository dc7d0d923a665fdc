// A real nginx in front of the hub, configured the way many are: HTTP/1.1 to the upstream but
// without passing Upgrade/Connection, so WebSocket cannot pass. The client must fall back to
// SSE through it and still receive everything. A second nginx also buffers every response
// whatever the hub's headers say (a corporate proxy), so SSE is silent too: the client and
// rthub-listen must long-poll through it.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "rthub/client.hpp"
#include "support/checks.hpp"
#include "support/child_process.hpp"
#include "support/http.hpp"
#include "support/hub_process.hpp"

using namespace rthub_test;
using rthub::ClientState;
using rthub::ClientTransport;

namespace {

class Nginx {
 public:
  // `buffer_everything`: responses are buffered, X-Accel-Buffering ignored (SSE stays silent).
  explicit Nginx(int upstream_port, bool buffer_everything = false) {
    char path[] = "/tmp/rthub-client-nginx-XXXXXX";
    dir_ = mkdtemp(path);
    port_ = free_port();
    std::string conf = dir_ + "/nginx.conf";
    std::ofstream out(conf);
    out << "master_process off;\n"
           "worker_processes 1;\n"
           "pid "
        << dir_
        << "/nginx.pid;\n"
           "error_log "
        << dir_
        << "/error.log warn;\n"
           "events { worker_connections 128; }\n"
           "http {\n"
           "  access_log off;\n"
           "  client_body_temp_path "
        << dir_
        << "/body;\n"
           "  proxy_temp_path "
        << dir_
        << "/proxy;\n"
           "  fastcgi_temp_path "
        << dir_
        << "/fastcgi;\n"
           "  uwsgi_temp_path "
        << dir_
        << "/uwsgi;\n"
           "  scgi_temp_path "
        << dir_
        << "/scgi;\n"
           "  upstream hub { server 127.0.0.1:"
        << upstream_port
        << "; }\n"
           "  server {\n"
           "    listen 127.0.0.1:"
        << port_
        << ";\n"
           "    # No 'proxy_set_header Upgrade/Connection': WebSocket upgrades do not pass.\n"
           "    location / {\n"
           "      proxy_pass http://hub;\n"
           "      proxy_http_version 1.1;\n"
           "    }\n"
           "    location /events {\n"
           "      proxy_pass http://hub;\n"
           "      proxy_http_version 1.1;\n"
        << (buffer_everything ? "      proxy_buffering on;\n"
                                "      proxy_ignore_headers X-Accel-Buffering;\n"
                              : "      proxy_buffering off;\n")
        << "      proxy_read_timeout 1h;\n"
           "    }\n"
           "    location /poll {\n"
           "      proxy_pass http://hub;\n"
           "      proxy_http_version 1.1;\n"
           "      proxy_buffering on;\n"
           "      proxy_ignore_headers X-Accel-Buffering;\n"
           "    }\n"
           "  }\n"
           "}\n";
    out.close();
    process_.reset(new ChildProcess(
        {RTHUB_NGINX, "-p", dir_, "-e", dir_ + "/error.log", "-c", conf, "-g", "daemon off;"},
        dir_ + "/stderr.log"));
    for (int i = 0; i < 100 && http_request(port_, "GET", "/healthz").status != 200; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ~Nginx() {
    process_->signal(SIGTERM);
    process_->wait_exit(5000);
    process_.reset();
    std::system(("rm -rf " + dir_).c_str());
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string dir_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace

TEST_CASE(
    "behind nginx without Upgrade pass-through the client falls back to SSE and receives "
    "everything",
    "[nginx]") {
  // tests/run.sh installs nginx (.ci/debian-packages): without it this test fails, never skips.
  if (std::string(RTHUB_NGINX).empty() || access(RTHUB_NGINX, X_OK) != 0)
    FAIL("nginx not found in /usr/sbin (Debian package: nginx-light)");
  HubProcess hub;
  Nginx nginx(hub.port());
  REQUIRE(http_request(nginx.port(), "GET", "/healthz").status == 200);

  EventLog log;
  rthub::ClientOptions options;
  options.url = nginx.url();
  options.channels = {"geometry", "incidents"};
  options.websocket_retry_ms = 500;  // probes keep failing: the client stays on SSE
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();

  long fallback = log.wait_state(ClientState::kFallback, ClientTransport::kEventStream, 5000);
  REQUIRE(fallback >= 0);
  INFO("fallback: " << log.snapshot()[fallback].reason);
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kEventStream, 5000, fallback) >=
          0);
  REQUIRE(log.wait_subscribed("geometry", 5000));
  REQUIRE(log.wait_subscribed("incidents", 5000));

  // Published through nginx too (nginx is a loopback peer of the hub).
  const int kGeometry = 200, kIncidents = 50;
  for (int i = 1; i <= kGeometry; ++i)
    REQUIRE(publish(nginx.port(), "geometry",
                    "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(200, 'x') +
                        "\"}") == 200);
  for (int i = 1; i <= kIncidents; ++i)
    REQUIRE(publish(nginx.port(), "incidents", std::to_string(i)) == 200);
  REQUIRE(log.wait_messages("geometry", kGeometry, 10000));
  REQUIRE(log.wait_messages("incidents", kIncidents, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // two failed probes later...

  auto events = log.snapshot();
  CHECK(EventLog::messages(events, "geometry").size() == kGeometry);
  CHECK(EventLog::messages(events, "incidents").size() == kIncidents);
  check_exactly_once_in_order(events, "geometry");
  check_exactly_once_in_order(events, "incidents");
  CHECK(EventLog::messages(events, "geometry").back().data.find("\"i\":200") != std::string::npos);
  // ...still on the stream: no disconnect, one fallback, counted by the hub.
  CHECK(EventLog::find(events, 0, [](const rthub::ClientEvent& e) {
          return EventLog::is_state(e, ClientState::kDisconnected) ||
                 EventLog::is_state(e, ClientState::kConnected, ClientTransport::kWebSocket);
        }) < 0);
  CHECK(client.stats().fallbacks == 1);
  CHECK(metric(hub.port(), "rthub_sse_fallbacks_total") == 1);
  client.stop();
}

namespace {

// Each message must arrive within 2 s of its publish: the hub answers a held poll at once when a
// message for its channels arrives and the client polls again at once (docs/PROTOCOL.md, /poll;
// docs/CLIENT.md), so a message costs at most one answer and one new poll through nginx, whose
// buffering holds nothing past the end of a response. 2 s is what issue 15 asks.
constexpr int kPollDeliveryMs = 2000;

void require_nginx() {
  // tests/run.sh installs nginx (.ci/debian-packages): without it this test fails, never skips.
  if (std::string(RTHUB_NGINX).empty() || access(RTHUB_NGINX, X_OK) != 0)
    FAIL("nginx not found in /usr/sbin (Debian package: nginx-light)");
}

}  // namespace

TEST_CASE(
    "behind nginx that refuses upgrades and buffers responses the client long-polls and "
    "gets every message within 2 s",
    "[nginx][poll]") {
  require_nginx();
  HubProcess hub;
  Nginx nginx(hub.port(), true);
  REQUIRE(http_request(nginx.port(), "GET", "/healthz").status == 200);

  EventLog log;
  rthub::ClientOptions options;
  options.url = nginx.url();
  options.channels = {"geometry"};
  options.on_event = log.sink();
  rthub::Client client(options);
  client.start();

  // The WebSocket is refused at once; the stream then opens and stays silent for sse_silence_ms
  // (5 s), or never opens within the handshake timeout (10 s): 15 s bound the step to polling.
  long step = log.wait_state(ClientState::kFallback, ClientTransport::kLongPoll, 15000);
  REQUIRE(step >= 0);
  INFO("to polling: " << log.snapshot()[step].reason);
  REQUIRE(log.wait_state(ClientState::kConnected, ClientTransport::kLongPoll, 5000, step) >= 0);
  REQUIRE(log.wait_subscribed("geometry", 5000));

  const int kMessages = 20;
  for (int i = 1; i <= kMessages; ++i) {
    REQUIRE(publish(hub.port(), "geometry", "{\"i\":" + std::to_string(i) + "}") == 200);
    INFO("message " << i);
    REQUIRE(log.wait_messages("geometry", static_cast<size_t>(i), kPollDeliveryMs));
  }
  auto events = log.snapshot();
  CHECK(EventLog::messages(events, "geometry").size() == kMessages);
  check_exactly_once_in_order(events, "geometry");
  CHECK(client.stats().fallbacks >= 1);  // to polling at least (the silent stream may count too)
  CHECK(metric(hub.port(), "rthub_poll_fallbacks_total") == 1);  // the first poll: fallback=1
  client.stop();
}

TEST_CASE(
    "behind nginx that refuses upgrades and buffers responses rthub-listen long-polls and "
    "prints every message within 2 s",
    "[nginx][poll][listen]") {
  require_nginx();
  HubProcess hub;
  Nginx nginx(hub.port(), true);
  REQUIRE(http_request(nginx.port(), "GET", "/healthz").status == 200);
  ChildProcess listen({RTHUB_LISTEN, nginx.url(), "--channel", "a"});
  // As above: 15 s bound the step to polling.
  REQUIRE(listen.wait_for_line("\"state\":\"connected\",\"transport\":\"poll\"", 15000));
  REQUIRE(listen.wait_for_line("\"event\":\"subscribed\"", 5000));
  for (int i = 1; i <= 10; ++i) {
    REQUIRE(publish(hub.port(), "a", std::to_string(i)) == 200);
    INFO("message " << i);
    REQUIRE(listen.wait_for_line("\"seq\":" + std::to_string(i) + ",", kPollDeliveryMs));
  }
  listen.signal(SIGTERM);
  CHECK(listen.wait_exit(5000) == 0);
}
