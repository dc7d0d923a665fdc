// options_test.cpp: a C host and a C++ host setting the same bad option get the same error, and
// the options of 0.2 (Redis Cluster, idempotency window, PostgreSQL history) are checked when the
// hub is created, before anything connects.
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "rthub/client.hpp"
#include "rthub/hub.hpp"
#include "rthub/rthub.h"

namespace {

int failures = 0;

void fail(const std::string& what) {
  ++failures;
  std::fprintf(stderr, "check failed: %s\n", what.c_str());
}

struct HubCase {
  const char* name;
  std::function<void(rthub_hub_options&)> set_c;
  std::function<void(rthub::HubOptions&)> set_cpp;
  const char* mentions;  // a word the error must contain; nullptr: the options are accepted
};

// The error a C++ host gets, or "" when the constructor accepts the options.
template <typename Build>
std::string cpp_error(Build build) {
  try {
    build();
    return "";
  } catch (const rthub::Error& e) {
    if (e.code() != rthub::Errc::kInvalid) return std::string("wrong code: ") + e.what();
    return e.what();
  }
}

void check_hub_case(const HubCase& c) {
  rthub_hub_options options;
  rthub_hub_options_init(&options, sizeof options);
  options.port = 0;
  c.set_c(options);
  rthub_hub* hub = nullptr;
  rthub_err err = rthub_hub_new(&options, &hub);
  std::string c_text = err == RTHUB_OK ? "" : rthub_last_error();
  rthub_hub_free(hub);

  rthub::HubOptions cpp;
  cpp.port = 0;
  c.set_cpp(cpp);
  std::string cpp_text = cpp_error([&] { rthub::Hub h(cpp); });

  if (!c.mentions) {
    if (err != RTHUB_OK) fail(std::string(c.name) + ": C refused: " + c_text);
    if (!cpp_text.empty()) fail(std::string(c.name) + ": C++ refused: " + cpp_text);
    return;
  }
  if (err != RTHUB_ERR_INVALID) fail(std::string(c.name) + ": C did not answer RTHUB_ERR_INVALID");
  if (c_text != cpp_text)
    fail(std::string(c.name) + ": C said '" + c_text + "', C++ '" + cpp_text + "'");
  if (c_text.find(c.mentions) == std::string::npos)
    fail(std::string(c.name) + ": '" + c_text + "' does not mention " + c.mentions);
}

void check_hub_options() {
  const std::vector<HubCase> cases = {
      {"heartbeat 0", [](auto& o) { o.heartbeat_seconds = 0; },
       [](auto& o) { o.heartbeat_seconds = 0; }, "heartbeat_seconds"},
      {"port", [](auto& o) { o.port = 70000; }, [](auto& o) { o.port = 70000; }, "port"},
      {"shards", [](auto& o) { o.shards = 0; }, [](auto& o) { o.shards = 0; }, "shards"},
      {"history ttl", [](auto& o) { o.history_ttl_seconds = 0; },
       [](auto& o) { o.history_ttl_seconds = 0; }, "history_ttl_seconds"},
      {"no history", [](auto& o) { o.history_size = 0; }, [](auto& o) { o.history_size = 0; },
       nullptr},
      {"queue", [](auto& o) { o.max_queue_bytes = 0; }, [](auto& o) { o.max_queue_bytes = 0; },
       "max_queue_bytes"},
      {"connect rate", [](auto& o) { o.max_connect_rate = -1; },
       [](auto& o) { o.max_connect_rate = -1; }, "max_connect_rate"},
      {"tls half", [](auto& o) { o.tls_cert = "cert.pem"; },
       [](auto& o) { o.tls_cert = "cert.pem"; }, "tls_key"},
      {"bridge", [](auto& o) { o.bridge_channels = "ok,not ok"; },
       [](auto& o) {
         o.bridge_channels = {"ok", "not ok"};
       },
       "bridge_channels"},
      {"cluster seeds", [](auto& o) { o.redis_cluster = "127.0.0.1:7000, 127.0.0.1:7001"; },
       [](auto& o) {
         o.redis_cluster = {"127.0.0.1:7000", "127.0.0.1:7001"};
       },
       nullptr},
      {"cluster seed without port", [](auto& o) { o.redis_cluster = "127.0.0.1:7000,redis"; },
       [](auto& o) {
         o.redis_cluster = {"127.0.0.1:7000", "redis"};
       },
       "redis_cluster"},
      {"cluster seed port 0", [](auto& o) { o.redis_cluster = "[::1]:0"; },
       [](auto& o) { o.redis_cluster = {"[::1]:0"}; }, "redis_cluster"},
      {"redis and cluster",
       [](auto& o) {
         o.redis_url = "redis://127.0.0.1:6379";
         o.redis_cluster = "127.0.0.1:7000";
       },
       [](auto& o) {
         o.redis_url = "redis://127.0.0.1:6379";
         o.redis_cluster = {"127.0.0.1:7000"};
       },
       "redis_cluster"},
      {"window 0", [](auto& o) { o.idempotency_window_seconds = 0; },
       [](auto& o) { o.idempotency_window_seconds = 0; }, "idempotency_window_seconds"},
      {"window 60", [](auto& o) { o.idempotency_window_seconds = 60; },
       [](auto& o) { o.idempotency_window_seconds = 60; }, nullptr},
      {"persist",
       [](auto& o) {
         o.postgres_conninfo = "postgresql://127.0.0.1:1/rthub";
         o.persist_patterns = "orders:*,audit,*";
         o.persist_ttl_seconds = 86400;
         o.persist_buffer = 10;
       },
       [](auto& o) {
         o.postgres_conninfo = "postgresql://127.0.0.1:1/rthub";
         o.persist_patterns = {"orders:*", "audit", "*"};
         o.persist_ttl_seconds = 86400;
         o.persist_buffer = 10;
       },
       nullptr},
      {"persist without postgres", [](auto& o) { o.persist_patterns = "orders:*"; },
       [](auto& o) { o.persist_patterns = {"orders:*"}; }, "postgres_conninfo"},
      {"persist bad pattern",
       [](auto& o) {
         o.postgres_conninfo = "dbname=rthub";
         o.persist_patterns = "ord ers*";
       },
       [](auto& o) {
         o.postgres_conninfo = "dbname=rthub";
         o.persist_patterns = {"ord ers*"};
       },
       "persist_patterns"},
      {"persist ttl", [](auto& o) { o.persist_ttl_seconds = -1; },
       [](auto& o) { o.persist_ttl_seconds = -1; }, "persist_ttl_seconds"},
  };
  for (const auto& c : cases) check_hub_case(c);
}

void check_client_options() {
  struct ClientCase {
    const char* name;
    std::function<void(rthub_client_options&)> set_c;
    std::function<void(rthub::ClientOptions&)> set_cpp;
    const char* mentions;
  };
  const std::vector<ClientCase> cases = {
      {"heartbeat", [](auto& o) { o.heartbeat_seconds = 0; },
       [](auto& o) { o.heartbeat_seconds = 0; }, "heartbeat_seconds"},
      {"backoff", [](auto& o) { o.backoff_cap_ms = 1; }, [](auto& o) { o.backoff_cap_ms = 1; },
       "backoff_cap_ms"},
      {"url", [](auto& o) { o.url = "ftp://x"; }, [](auto& o) { o.url = "ftp://x"; }, "ftp"},
      {"channel",
       [](auto& o) {
         static const char* const channels[] = {"fine", "not fine"};
         o.channels = channels;
         o.channel_count = 2;
       },
       [](auto& o) {
         o.channels = {"fine", "not fine"};
       },
       "bad channel name 'not fine'"},
  };
  for (const auto& c : cases) {
    rthub_client_options options;
    rthub_client_options_init(&options, sizeof options);
    options.url = "http://127.0.0.1:1";
    c.set_c(options);
    rthub_client* client = nullptr;
    rthub_err err = rthub_client_new(&options, &client);
    std::string c_text = err == RTHUB_OK ? "" : rthub_last_error();
    rthub_client_free(client);
    rthub::ClientOptions cpp;
    cpp.url = "http://127.0.0.1:1";
    c.set_cpp(cpp);
    std::string cpp_text = cpp_error([&] { rthub::Client cl(cpp); });
    if (err != RTHUB_ERR_INVALID)
      fail(std::string(c.name) + ": C did not answer RTHUB_ERR_INVALID");
    if (c_text != cpp_text)
      fail(std::string(c.name) + ": C said '" + c_text + "', C++ '" + cpp_text + "'");
    if (c_text.find(c.mentions) == std::string::npos)
      fail(std::string(c.name) + ": '" + c_text + "' does not mention " + c.mentions);
  }
}

// The C++ publish takes the same per-publish checks as the C one.
void check_publish_options() {
  rthub::HubOptions options;
  options.port = 0;
  rthub::Hub hub(options);
  hub.start();
  rthub::PublishOptions publish;
  publish.idempotency_key.assign(129, 'k');
  std::string text = cpp_error([&] { hub.publish("a", "t", "1", publish); });
  if (text.find("128") == std::string::npos) fail("a 129-byte key from C++: '" + text + "'");
  text = cpp_error([&] { hub.publish_async("a", "t", "1", nullptr, publish); });
  if (text.find("128") == std::string::npos) fail("a 129-byte key from C++, async: '" + text + "'");
  hub.stop();
}

}  // namespace

int main() {
  check_hub_options();
  check_client_options();
  check_publish_options();
  if (failures) {
    std::fprintf(stderr, "capi-options: %d check(s) failed\n", failures);
    return failures > 100 ? 100 : failures;
  }
  std::printf("capi-options: all checks passed\n");
  return 0;
}
