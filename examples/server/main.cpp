// rthub-server: a standalone rthub node on an in-memory hub.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <pthread.h>
#include <sys/resource.h>

#include "rthub/hub.hpp"

namespace {

const char kUsage[] =
    "usage: rthub-server [options]\n"
    "  --listen HOST:PORT          address to serve on (default 127.0.0.1:8080; port 0 picks one)\n"
    "  --static DIR                serve files from DIR at / (the demo page: examples/web)\n"
    "  --history N                 messages retained per channel (default 1000)\n"
    "  --history-ttl SECONDS       and for at most this long (default 300)\n"
    "  --heartbeat SECONDS         ping idle streams this often (default 25)\n"
    "  --publish-key KEY           require 'Authorization: Bearer KEY' on POST /publish\n"
    "                              (without it only loopback peers may publish)\n"
    "  --max-message-bytes N       largest WebSocket message or publish body (default 65536)\n"
    "  --max-queue-bytes N         outbound bytes queued per client before it is dropped (default "
    "1048576)\n"
    "  --max-connections N         total connections (default: the descriptor limit, "
    "RLIMIT_NOFILE,\n"
    "                              less a reserve of 32 + 1/16 of it; 0: no limit)\n"
    "  --max-connections-per-ip N  connections per client address (default: no limit)\n"
    "  --max-subscriptions N       channels per connection (default 1024)\n"
    "  --sse-retry MS              the reconnect delay an SSE stream tells browsers (default "
    "2000)\n"
    "  --poll-timeout SECONDS      how long GET /poll holds a request with nothing to send "
    "(default 25)\n"
    "  --shards N                  service threads accepting on the one port (SO_REUSEPORT; "
    "default 1)\n"
    "  --max-connect-rate R        new connections per second per client address (default: no "
    "limit)\n"
    "  --jwt-secret SECRET         require an HS256 JWT (Authorization: Bearer or ?token=) on /ws "
    "and /events\n"
    "  --allow-client-publish      let anonymous WebSocket clients publish (no --jwt-secret)\n"
    "  --allow-origin ORIGIN       accept this browser Origin (repeatable; '*' for any; default: "
    "any)\n"
    "  --tls-cert FILE             PEM certificate: serve https:// and wss://\n"
    "  --tls-key FILE              PEM private key of --tls-cert\n"
    "  --redis URL                 redis://[:password@]host:port[/db]: positions, history and "
    "fan-out\n"
    "                              through Redis, so that many nodes act as one hub\n"
    "  --bridge CHANNEL            with --redis: plain 'PUBLISH CHANNEL payload' reaches hub "
    "channel\n"
    "                              CHANNEL (repeatable)\n"
    "  --idempotency-window SECONDS\n"
    "                              a publish repeating an idempotency_key on its channel within "
    "this\n"
    "                              long is answered with the first one's position (default 300; 0: "
    "off)\n"
    "  --max-keys N                keys (keyed messages) a channel may hold; a new key past it is\n"
    "                              refused with 409 too_many_keys (default 10000)\n"
    "  --postgres CONNINFO         keep history in PostgreSQL (a libpq connection string or URI):\n"
    "                              resumes older than --history, GET /history, positions that\n"
    "                              survive a restart\n"
    "  --persist PATTERN           with --postgres: persist this channel, or those starting with "
    "the\n"
    "                              prefix before a trailing '*' (repeatable; default: every "
    "channel)\n"
    "  --persist-ttl SECONDS       delete persisted messages older than this (default 0: keep "
    "them)\n"
    "  --persist-buffer N          messages held while PostgreSQL is away (default 100000)\n"
    "  --help                      this text\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "rthub-server: %s\n\n%s", what.c_str(), kUsage);
  std::exit(2);
}

long long number(const char* flag, const char* text, long long min, long long max) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text, &end, 10);
  if (errno || !end || *end || end == text || v < min || v > max)
    usage_error(std::string(flag) + " wants a number from " + std::to_string(min) + " to " +
                std::to_string(max));
  return v;
}

// The descriptors this process may open: the soft limit, first raised to the hard one (as Go
// programs and many servers do; the hard limit is the operator's word).
size_t descriptor_limit() {
  struct rlimit limit {};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? 0 : static_cast<size_t>(limit.rlim_cur);
}

// The default --max-connections: the descriptor limit less a reserve for plain HTTP requests
// (/healthz, /metrics, /publish), Redis links, logs and the listeners, so that connections are
// refused with a clear 503 before accept runs out of descriptors. 0 (no limit) when unknown.
size_t default_max_connections() {
  size_t limit = descriptor_limit();
  size_t reserve = 32 + limit / 16;
  return limit > reserve ? limit - reserve : (limit ? 1 : 0);
}

rthub::HubOptions parse(int argc, char** argv) {
  rthub::HubOptions o;
  o.max_connections = default_max_connections();
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (flag == "--allow-client-publish") {
      o.allow_client_publish = true;
      continue;
    }
    if (i + 1 >= argc) usage_error("unknown option or missing value: " + flag);
    const char* value = argv[++i];
    if (flag == "--listen") {
      std::string hp = value;
      size_t colon = hp.rfind(':');
      if (colon == std::string::npos) usage_error("--listen wants HOST:PORT");
      o.listen_host = hp.substr(0, colon);
      if (o.listen_host.size() > 2 && o.listen_host.front() == '[' && o.listen_host.back() == ']')
        o.listen_host = o.listen_host.substr(1, o.listen_host.size() - 2);
      o.port = static_cast<int>(number("--listen port", hp.c_str() + colon + 1, 0, 65535));
    } else if (flag == "--static") {
      o.static_dir = value;
    } else if (flag == "--history") {
      o.history_size = static_cast<size_t>(number("--history", value, 0, 10000000));
    } else if (flag == "--history-ttl") {
      o.history_ttl_seconds = static_cast<int>(number("--history-ttl", value, 1, 365 * 86400));
    } else if (flag == "--heartbeat") {
      o.heartbeat_seconds = static_cast<int>(number("--heartbeat", value, 1, 3600));
    } else if (flag == "--publish-key") {
      o.publish_key = value;
    } else if (flag == "--max-message-bytes") {
      o.max_message_bytes =
          static_cast<size_t>(number("--max-message-bytes", value, 16, 64LL << 20));
    } else if (flag == "--max-queue-bytes") {
      o.max_queue_bytes = static_cast<size_t>(number("--max-queue-bytes", value, 1024, 1LL << 34));
    } else if (flag == "--max-connections") {
      o.max_connections = static_cast<size_t>(number("--max-connections", value, 0, 100000000));
    } else if (flag == "--max-connections-per-ip") {
      o.max_connections_per_ip =
          static_cast<size_t>(number("--max-connections-per-ip", value, 0, 100000000));
    } else if (flag == "--max-subscriptions") {
      o.max_subscriptions = static_cast<size_t>(number("--max-subscriptions", value, 0, 1000000));
    } else if (flag == "--max-connect-rate") {
      char* end = nullptr;
      o.max_connect_rate = std::strtod(value, &end);
      if (!end || *end || o.max_connect_rate < 0)
        usage_error("--max-connect-rate wants a number >= 0");
    } else if (flag == "--shards") {
      o.shards = static_cast<int>(number("--shards", value, 1, 64));
    } else if (flag == "--poll-timeout") {
      o.poll_timeout_seconds = static_cast<int>(number("--poll-timeout", value, 1, 3600));
    } else if (flag == "--sse-retry") {
      o.sse_retry_ms = static_cast<int>(number("--sse-retry", value, 0, 3600000));
    } else if (flag == "--jwt-secret") {
      o.jwt_secret = value;
    } else if (flag == "--allow-origin") {
      o.allowed_origins.emplace_back(value);
    } else if (flag == "--tls-cert") {
      o.tls_cert = value;
    } else if (flag == "--tls-key") {
      o.tls_key = value;
    } else if (flag == "--redis") {
      o.redis_url = value;
    } else if (flag == "--bridge") {
      o.bridge_channels.emplace_back(value);
    } else if (flag == "--idempotency-window") {
      o.idempotency_window_seconds =
          static_cast<int>(number("--idempotency-window", value, 0, 7 * 86400));
    } else if (flag == "--max-keys") {
      o.max_keys = static_cast<size_t>(number("--max-keys", value, 0, 100000000));
    } else if (flag == "--postgres") {
      o.postgres_conninfo = value;
    } else if (flag == "--persist") {
      o.persist_patterns.emplace_back(value);
    } else if (flag == "--persist-ttl") {
      o.persist_ttl_seconds =
          static_cast<int>(number("--persist-ttl", value, 0, 100 * 365 * 86400LL));
    } else if (flag == "--persist-buffer") {
      o.persist_buffer = static_cast<size_t>(number("--persist-buffer", value, 1, 100000000));
    } else {
      usage_error("unknown option: " + flag);
    }
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) usage_error("--tls-cert and --tls-key go together");
  if (!o.bridge_channels.empty() && o.redis_url.empty()) usage_error("--bridge needs --redis");
  if (!o.persist_patterns.empty() && o.postgres_conninfo.empty())
    usage_error("--persist needs --postgres");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  rthub::HubOptions options = parse(argc, argv);

  // Signals are taken by this thread with sigwait; the hub's thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  rthub::Hub hub(options);
  try {
    hub.start();
  } catch (const rthub::Error& e) {
    std::fprintf(stderr, "rthub-server: %s\n", e.what());
    return 1;
  }
  std::string host = options.listen_host.find(':') != std::string::npos
                         ? "[" + options.listen_host + "]"
                         : options.listen_host;
  std::fprintf(stderr, "rthub-server listening on %s://%s:%d\n",
               options.tls_cert.empty() ? "http" : "https", host.c_str(), hub.port());
  if (!options.static_dir.empty())
    std::fprintf(stderr, "rthub-server serving %s at /\n", options.static_dir.c_str());
  std::fflush(stderr);

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "rthub-server: %s, closing connections\n",
               signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  hub.stop();
  std::fprintf(stderr, "rthub-server: stopped\n");
  return 0;
}
