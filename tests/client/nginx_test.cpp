// A real nginx in front of the hub, configured the way many are: HTTP/1.1 to the upstream but
// without passing Upgrade/Connection, so WebSocket cannot pass. The client must fall back to
// SSE through it and still receive everything.
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
  explicit Nginx(int upstream_port) {
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
           "      proxy_buffering off;\n"
           "      proxy_read_timeout 1h;\n"
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
